%% One instance of an enabled driver: all a hook call needs. The broker
%% callbacks (emqx_extension_hook_callbacks) carry only the driver's
%% persistent_term key, under which the registry keeps the instance that
%% answers now; a reload builds the next instance and switches the key to
%% it, so no call ever finds neither.
-record(exhook_driver, {
    name :: binary(),
    %% The persistent_term key the broker callbacks of this driver read.
    key :: {emqx_extension_hook_driver, binary()},
    %% Unique per enable or reload: tells two instances of a driver apart.
    instance :: pos_integer(),
    kind :: native | python3 | java,
    %% `nif': the handler runs in this VM, its library bound to `module'
    %% and its driver state in `resource'; `{port, T}': the handler runs in
    %% OS processes (see emqx_extension_hook_port).
    transport = nif :: nif | {port, term()},
    module :: module() | undefined,
    resource :: reference() | undefined,
    call_timeout :: pos_integer(),
    failed_action :: ignore | deny,
    %% By hook index + 1: where each hook runs (inline, dirty_cpu,
    %% dirty_io, pool), `cast' for a notification, `none' for a hook the
    %% handler does not implement.
    modes :: tuple(),
    %% By hook index + 1: the EMQX metric each call counts, or `none'
    %% outside EMQX.
    metrics :: none | tuple()
}).
