%% What a registered broker callback carries as its extra argument: all a
%% hook call needs, so the hot path reads no table and takes no lock.
-record(exhook_driver, {
    name :: binary(),
    %% The module the driver's NIF library is bound to; it also holds the
    %% broker callbacks of this driver (the broker keys callbacks by {M, F}).
    module :: module(),
    %% `nif': the library's NIF resource is `resource'; `{port, T}': the
    %% handler runs in OS processes (see emqx_extension_hook_port).
    transport = nif :: nif | {port, term()},
    resource :: reference() | undefined,
    call_timeout :: pos_integer(),
    failed_action :: ignore | deny,
    %% By hook index + 1: where each hook runs, `cast' for notifications.
    modes :: tuple(),
    %% By hook index + 1: the EMQX metric each call counts, or `none'
    %% outside EMQX.
    metrics :: none | tuple()
}).
