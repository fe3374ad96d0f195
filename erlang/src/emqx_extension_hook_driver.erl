%% @doc Loads and unloads one driver: its NIF library, bound to a stub
%% module of the library's name, and the handler the library builds.
%%
%% The library is loaded from a private copy, so that a rebuilt library at
%% the configured path is picked up by the next enable, and is never
%% written over while the VM has it mapped.
-module(emqx_extension_hook_driver).

-include("emqx_extension_hook.hrl").

-export([load/2, unload/1]).

%% How long an unload waits for calls still running in the old module
%% before leaving it for the next purge.
-define(PURGE_POLL_MS, 20).

%% @doc Loads driver `Name': the hooks it implements, and the record every
%% broker callback of the driver carries.
-spec load(binary(), emqx_extension_hook_config:opts()) ->
          {ok, #exhook_driver{}, [emqx_extension_hook_hooks:hook()]} | {error, term()}.
load(Name, #{init_module := Module, transport := Transport} = Opts) ->
    case ensure_free(Module) of
        ok ->
            Result = try
                         case Transport of
                             nif -> load_library(Name, Module, Opts);
                             port -> start_processes(Name, Module, Opts)
                         end
                     catch Class:Reason:Stack -> {error, {Class, Reason, Stack}}
                     end,
            element(1, Result) =:= error andalso discard(Module),
            Result;
        {error, _} = E ->
            E
    end.

%% @doc Stops the handler (its `deinit' runs once) and retires its module;
%% the broker callbacks must already be unhooked.
-spec unload(#exhook_driver{}) -> ok.
unload(#exhook_driver{transport = {port, Transport}, module = M, call_timeout = T}) ->
    emqx_extension_hook_port:stop(Transport),
    retire(M, T + 1000);
unload(#exhook_driver{name = Name, module = M, resource = R, call_timeout = T}) ->
    case catch M:driver_deinit(R) of
        ok -> ok;
        Other -> logger:warning("exhook driver ~ts: deinit: ~0p", [Name, Other])
    end,
    retire(M, T + 1000).

%% Free for a new driver: not loaded, or a stub a disabled driver left (the
%% registry refuses a module that an enabled driver uses), with no old
%% code still running.
ensure_free(Module) ->
    case code:is_loaded(Module) =:= false orelse emqx_extension_hook_stub:is_stub(Module) of
        true ->
            case code:soft_purge(Module) of
                true -> ok;
                false -> {error, {module_busy, Module}}
            end;
        false ->
            {error, {init_module_in_use, Module}}
    end.

load_library(Name, Module, #{path := Path, settings := Settings} = Opts) ->
    maybe_steps(
      [fun() -> load_stub(Module) end,
       fun() -> load_nif_copy(Module, Path) end,
       fun() -> check_hook_table(Module) end],
      fun() -> init_handler(Name, Module, Settings, Opts) end).

%% The stub a disabled driver left, if any, is now old code; nothing
%% should run in it, and if something does, the next unload purges it.
load_stub(Module) ->
    case emqx_extension_hook_stub:load(Module) of
        ok ->
            _ = code:soft_purge(Module),
            ok;
        {error, _} = E ->
            E
    end.

maybe_steps([], Last) -> Last();
maybe_steps([Step | Rest], Last) ->
    case Step() of
        ok -> maybe_steps(Rest, Last);
        {error, _} = E -> E
    end.

load_nif_copy(Module, Path) ->
    case private_copy(Path) of
        {ok, Copy} ->
            Result = Module:'$load_nif'(filename:rootname(Copy)),
            _ = file:delete(Copy),
            case Result of
                ok -> ok;
                {error, {_Kind, Text}} -> {error, {load_nif, Path, Text}};
                {error, Reason} -> {error, {load_nif, Path, Reason}}
            end;
        {error, _} = E ->
            E
    end.

%% A fresh file each time: dlopen() of a path it has open returns the old
%% mapping, and a copy is never written over while mapped.
private_copy(Path) ->
    Dir = filename:join(tmp_dir(), "emqx_extension_hook"),
    Copy = filename:join(Dir, unique_name(Path)),
    maybe_steps(
      [fun() -> filelib:ensure_dir(Copy) end],
      fun() ->
              case file:read_file(Path) of
                  {ok, Bin} ->
                      case file:write_file(Copy, Bin, [exclusive, raw]) of
                          ok -> {ok, Copy};
                          {error, Reason} -> {error, {copy_library, Copy, Reason}}
                      end;
                  {error, Reason} ->
                      {error, {read_library, Path, Reason}}
              end
      end).

tmp_dir() ->
    case os:getenv("TMPDIR") of
        false -> "/tmp";
        "" -> "/tmp";
        Dir -> Dir
    end.

%% Unique on this machine (OS pid, then a VM-unique integer); the exclusive
%% create above refuses a file someone else put there.
unique_name(Path) ->
    Ext = case filename:extension(Path) of "" -> ".so"; E -> E end,
    lists:flatten([os:getpid(), "-", integer_to_list(erlang:unique_integer([positive])), Ext]).

check_hook_table(Module) ->
    Expected = [atom_to_binary(P, utf8) || #{point := P} <- emqx_extension_hook_hooks:all()],
    case Module:hook_names() of
        Expected -> ok;
        Other -> {error, {sdk_hook_table_mismatch, Other}}
    end.

%% The Port transport: the stub module holds the broker callbacks only.
start_processes(Name, Module, #{path := Path, call_timeout := T, failed_action := FA} = Opts) ->
    maybe_steps(
      [fun() -> load_stub(Module) end],
      fun() ->
              case emqx_extension_hook_port:start(Name, Path, Opts) of
                  {ok, Transport, Declared} ->
                      Hooks = declared_hooks(Declared),
                      Driver = #exhook_driver{name = Name, module = Module,
                                              transport = {port, Transport},
                                              call_timeout = T, failed_action = FA,
                                              modes = modes(Hooks, Opts),
                                              metrics = emqx_extension_hook_emqx:ensure_metrics(Name)},
                      {ok, Driver, [H || {H, _} <- Hooks]};
                  {error, _} = E ->
                      E
              end
      end).

declared_hooks(Declared) ->
    [{H, M} || {N, M} <- Declared, {ok, H} <- [emqx_extension_hook_hooks:by_name(N)]].

init_handler(Name, Module, Settings, #{call_timeout := T, failed_action := FA} = Opts) ->
    NifOpts = #{pool_size => maps:get(pool_size, Opts),
                pool_max => maps:get(pool_max, Opts),
                queue_capacity => maps:get(queue_capacity, Opts),
                reporter => whereis(emqx_extension_hook_reporter)},
    case Module:driver_init(Name, Settings, NifOpts) of
        {ok, Resource, Declared} ->
            Hooks = declared_hooks(Declared),
            Driver = #exhook_driver{name = Name, module = Module, resource = Resource,
                                    call_timeout = T, failed_action = FA,
                                    modes = modes(Hooks, Opts),
                                    metrics = emqx_extension_hook_emqx:ensure_metrics(Name)},
            {ok, Driver, [H || {H, _} <- Hooks]};
        {error, {init_failed, Message}} ->
            {error, {init_failed, Message}};
        {error, Reason} ->
            {error, {init_failed, Reason}}
    end.

%% Where each hook runs: notifications are cast to the workers; a fold
%% hook runs where the config says (for that hook, else for the driver),
%% else where the handler declared.
modes(Declared, #{mode := DriverMode, modes := HookModes}) ->
    list_to_tuple(
      [case Kind of
           notify -> cast;
           fold -> maps:get(Point, HookModes, mode(DriverMode, lists:keyfind(H, 1, Declared)))
       end || H = #{point := Point, kind := Kind} <- emqx_extension_hook_hooks:all()]).

mode(undefined, {_, Declared}) -> Declared;
mode(undefined, false) -> pool;
mode(Configured, _) -> Configured.

%% Removes a module nobody has called yet.
discard(Module) ->
    _ = code:delete(Module),
    _ = code:soft_purge(Module),
    ok.

%% A fresh stub, without the library, becomes the module's current code:
%% a call that reaches the driver's callbacks after the unhook gets the
%% failure policy from it. The replaced code, which holds the library, is
%% purged once no call runs in it, and the VM unloads the library when the
%% last of its resources is collected.
retire(Module, WaitMs) ->
    %% The old-code slot must be free to load the stub; it can only hold
    %% the stub this driver replaced when it was enabled.
    case purge(Module, WaitMs) of
        ok ->
            case emqx_extension_hook_stub:load(Module) of
                ok ->
                    _ = purge(Module, WaitMs),
                    ok;
                {error, Reason} ->
                    logger:warning("exhook: ~p not retired: ~0p", [Module, Reason])
            end;
        busy ->
            ok
    end.

%% Never kills a caller: a process still in the old code (a hook call in
%% flight) keeps it until it returns.
-spec purge(module(), integer()) -> ok | busy.
purge(Module, WaitMs) ->
    case code:soft_purge(Module) of
        true -> ok;
        false when WaitMs > 0 ->
            timer:sleep(?PURGE_POLL_MS),
            purge(Module, WaitMs - ?PURGE_POLL_MS);
        false ->
            logger:warning("exhook: ~p still has calls in flight; it is purged at the next load",
                           [Module]),
            busy
    end.
