%% @doc Starts and stops one instance of a driver: its handler, where it
%% runs, and the record every call to it carries (`#exhook_driver{}').
%%
%% A native driver on the NIF transport is loaded from a private copy of
%% its library into a module of its own, one of two per driver (`slot' 0
%% and 1): a reload loads the new library into the other one while the old
%% instance still answers. A python3 driver runs in the plugin's Python
%% library, loaded once into `emqx_extension_hook_python' and never
%% unloaded (one interpreter per VM); each instance is a driver state of
%% that library. On the Port transport, an instance is a set of OS
%% processes.
-module(emqx_extension_hook_driver).

-include("emqx_extension_hook.hrl").

-export([start/3, stop/2, hooks/1, stats/1, nif_module/2, set_log_level/2]).

-type slot() :: 0 | 1.
-export_type([slot/0]).

%% How long a stop waits for calls still running in the old module before
%% leaving it for the next purge.
-define(PURGE_POLL_MS, 20).
-define(PYTHON_MODULE, emqx_extension_hook_python).

%% @doc Starts an instance of driver `Name' with options `Opts'; `Slot'
%% picks the module a native library is loaded into.
-spec start(binary(), emqx_extension_hook_config:opts(), slot()) ->
          {ok, #exhook_driver{}} | {error, term()}.
start(Name, #{kind := java} = Opts, _Slot) ->
    start_processes(Name, Opts);
start(Name, #{transport := port} = Opts, _Slot) ->
    maybe_steps([fun() -> checked_library(Opts) end], fun() -> start_processes(Name, Opts) end);
start(Name, #{kind := python3} = Opts, _Slot) ->
    maybe_steps([fun() -> ensure_python_library(Opts) end],
                fun() -> init_handler(Name, ?PYTHON_MODULE, Opts) end);
start(Name, #{kind := native} = Opts, Slot) ->
    Module = nif_module(Name, Slot),
    Result = try load_native(Name, Module, Opts)
             catch Class:Reason:Stack -> {error, {Class, Reason, Stack}}
             end,
    element(1, Result) =:= error andalso emqx_extension_hook_stub:is_stub(Module)
        andalso retire(Module, 0),
    Result.

%% @doc Stops an instance: `finish' lets it run the calls it has queued
%% (a reload), `drain' answers them with the failure policy (a disable);
%% then its handler's `deinit' runs, once. The broker callbacks must no
%% longer lead to it.
-spec stop(#exhook_driver{}, finish | drain) -> ok.
stop(#exhook_driver{transport = {port, Transport}}, _How) ->
    emqx_extension_hook_port:stop(Transport);
stop(#exhook_driver{name = Name, module = M, resource = R, call_timeout = T}, How) ->
    case catch M:driver_deinit(R, How) of
        ok -> ok;
        already_stopped -> ok;
        Other -> logger:warning("exhook driver ~ts: deinit: ~0p", [Name, Other])
    end,
    M =/= ?PYTHON_MODULE andalso retire(M, T + 1000),
    ok.

%% @doc Has an instance's handler log at the broker's level `Level'.
-spec set_log_level(#exhook_driver{}, logger:level()) -> ok.
set_log_level(#exhook_driver{transport = {port, Transport}}, Level) ->
    emqx_extension_hook_port:set_log_level(Transport, Level);
set_log_level(#exhook_driver{module = M}, Level) ->
    _ = catch M:log_level(Level),
    ok.

%% @doc An instance's counters, by hook: calls, succeeded, failed,
%% timed_out, dropped, overran, queued, p50_us, p99_us.
%% `handler' holds the handler's own counters (NIF transport).
-spec stats(#exhook_driver{}) ->
          #{transport := nif | port, queue_depth := non_neg_integer(),
            restarts := non_neg_integer(), hooks := [{atom(), #{atom() => number()}}],
            handler := [{binary(), non_neg_integer()}]}.
stats(#exhook_driver{transport = {port, T}} = D) ->
    Hooks = hooks(D),
    {Restarts, Rows} = emqx_extension_hook_port:stats(T, [I || #{index := I} <- Hooks]),
    Points = maps:from_list([{I, P} || #{index := I, point := P} <- Hooks]),
    #{transport => port, queue_depth => 0, restarts => Restarts, handler => [],
      hooks => [{maps:get(I, Points), Counters} || {I, Counters} <- Rows]};
stats(#exhook_driver{module = M, resource = R}) ->
    Rows = [{binary_to_existing_atom(Hook, utf8), Counters} || {Hook, Counters} <- M:driver_stats(R)],
    #{transport => nif, queue_depth => M:driver_queue_depth(R), restarts => 0, hooks => Rows,
      handler => M:driver_counters(R)}.

%% @doc The hooks an instance's handler implements.
-spec hooks(#exhook_driver{}) -> [emqx_extension_hook_hooks:hook()].
hooks(#exhook_driver{modes = Modes}) ->
    [H || H = #{index := I} <- emqx_extension_hook_hooks:all(), element(I + 1, Modes) =/= none].

%% @doc The module slot `Slot' of native driver `Name' is loaded into.
-spec nif_module(binary(), slot()) -> module().
nif_module(Name, Slot) ->
    binary_to_atom(<<"emqx_extension_hook_nif_", Name/binary, "_", (integer_to_binary(Slot))/binary>>,
                   utf8).

%%--------------------------------------------------------------------
%% Native libraries

load_native(Name, Module, #{library := Library} = Opts) ->
    maybe_steps(
      [fun() -> checked_library(Opts) end,
       fun() -> ensure_free(Module) end,
       fun() -> load_stub(Module) end,
       fun() -> load_copy(Module, Library) end,
       fun() -> check_hook_table(Module) end],
      fun() -> init_handler(Name, Module, Opts) end).

%% The library is a handler library built for this plugin, and the one
%% the config means when it names the module it was built with.
checked_library(#{kind := Kind, library := Library, init_module := Expected}) ->
    case emqx_extension_hook_library:probe(Library) of
        {ok, _BuiltFor} when Kind =/= native; Expected =:= undefined ->
            ok;
        {ok, BuiltFor} ->
            case unicode:characters_to_binary(Expected) of
                BuiltFor -> ok;
                _ -> {error, {init_module_mismatch, Library, BuiltFor, Expected}}
            end;
        {error, _} = E ->
            E
    end.

%% Free for a new instance: not loaded, or a stub a stopped instance left,
%% with no old code still running.
ensure_free(Module) ->
    case code:is_loaded(Module) =:= false orelse emqx_extension_hook_stub:is_stub(Module) of
        true ->
            case code:soft_purge(Module) of
                true -> ok;
                false -> {error, {module_busy, Module}}
            end;
        false ->
            {error, {module_in_use, Module}}
    end.

%% The stub a stopped instance left, if any, is now old code; nothing
%% should run in it, and if something does, the next stop purges it.
load_stub(Module) ->
    case emqx_extension_hook_stub:load(Module) of
        ok ->
            _ = code:soft_purge(Module),
            ok;
        {error, _} = E ->
            E
    end.

load_copy(Module, Library) ->
    case emqx_extension_hook_library:private_copy(Library, Module) of
        {ok, Copy} ->
            Result = Module:'$load_nif'(filename:rootname(Copy)),
            _ = file:delete(Copy),
            case Result of
                ok -> ok;
                {error, {_Kind, Text}} -> {error, {load_nif, Library, Text}};
                {error, Reason} -> {error, {load_nif, Library, Reason}}
            end;
        {error, _} = E ->
            E
    end.

check_hook_table(Module) ->
    Expected = [atom_to_binary(P, utf8) || #{point := P} <- emqx_extension_hook_hooks:all()],
    case Module:hook_names() of
        Expected -> ok;
        Other -> {error, {sdk_hook_table_mismatch, Other}}
    end.

%%--------------------------------------------------------------------
%% The Python library: loaded once, shared by every python3 driver

ensure_python_library(#{library := Library} = Opts) ->
    case emqx_extension_hook_stub:is_stub(?PYTHON_MODULE)
        andalso emqx_extension_hook_stub:has_library(?PYTHON_MODULE) of
        true ->
            ok;
        false ->
            maybe_steps(
              [fun() -> checked_library(Opts) end,
               fun() -> ensure_free(?PYTHON_MODULE) end,
               fun() -> load_stub(?PYTHON_MODULE) end],
              fun() ->
                      case ?PYTHON_MODULE:'$load_nif'(filename:rootname(Library)) of
                          ok -> check_hook_table(?PYTHON_MODULE);
                          {error, {_Kind, Text}} -> {error, {load_nif, Library, Text}};
                          {error, Reason} -> {error, {load_nif, Library, Reason}}
                      end
              end)
    end.

%%--------------------------------------------------------------------
%% The handler

init_handler(Name, Module, #{call_timeout := T, failed_action := FA, settings := Settings} = Opts) ->
    NifOpts = #{pool_size => maps:get(pool_size, Opts),
                pool_max => maps:get(pool_max, Opts),
                queue_capacity => maps:get(queue_capacity, Opts),
                reporter => whereis(emqx_extension_hook_reporter),
                logger => whereis(emqx_extension_hook_log),
                log_level => emqx_extension_hook_log:level()},
    case Module:driver_init(Name, Settings, NifOpts) of
        {ok, Resource, Declared} ->
            {ok, #exhook_driver{name = Name, key = emqx_extension_hook_handler:key(Name),
                                instance = erlang:unique_integer([positive]),
                                kind = maps:get(kind, Opts), module = Module, resource = Resource,
                                call_timeout = T, failed_action = FA,
                                modes = modes(declared_hooks(Declared), Opts),
                                metrics = emqx_extension_hook_emqx:ensure_metrics(Name)}};
        {error, {init_failed, Message}} ->
            {error, {init_failed, Message}};
        {error, Reason} ->
            {error, {init_failed, Reason}}
    end.

%% The Port transport: the handler's OS processes.
start_processes(Name, #{call_timeout := T, failed_action := FA} = Opts) ->
    case command(Opts) of
        {ok, Exe, Args} ->
            case emqx_extension_hook_port:start(Name, {Exe, Args}, Opts) of
                {ok, Transport, Declared} ->
                    {ok, #exhook_driver{name = Name, key = emqx_extension_hook_handler:key(Name),
                                        instance = erlang:unique_integer([positive]),
                                        kind = maps:get(kind, Opts), transport = {port, Transport},
                                        call_timeout = T, failed_action = FA,
                                        modes = modes(declared_hooks(Declared), Opts),
                                        metrics = emqx_extension_hook_emqx:ensure_metrics(Name)}};
                {error, _} = E ->
                    E
            end;
        {error, _} = E ->
            E
    end.

%% `java' and `jvm_args' are read from the driver's config as written.
command(#{kind := java, raw := Raw} = Opts) ->
    Jvm = maps:from_list([{K, V} || K <- [java, jvm_args], {_, V} <- [lists:keyfind(K, 1, Raw)]]),
    emqx_extension_hook_java:command(maps:merge(Jvm, Opts));
command(#{library := Library}) ->
    {ok, emqx_extension_hook_library:launcher(), [Library]}.

declared_hooks(Declared) ->
    [{H, M} || {N, M} <- Declared, {ok, H} <- [emqx_extension_hook_hooks:by_name(N)]].

%% Where each hook runs: not at all when the handler does not implement
%% it; notifications are cast to the workers; a fold hook runs where the
%% config says (for that hook, else for the driver), else where the
%% handler declared.
modes(Declared, #{mode := DriverMode, modes := HookModes}) ->
    list_to_tuple(
      [case lists:keyfind(H, 1, Declared) of
           false -> none;
           {_, _} when Kind =:= notify -> cast;
           {_, DeclaredMode} -> maps:get(Point, HookModes, mode(DriverMode, DeclaredMode))
       end || H = #{point := Point, kind := Kind} <- emqx_extension_hook_hooks:all()]).

mode(undefined, Declared) -> Declared;
mode(Configured, _) -> Configured.

%%--------------------------------------------------------------------
%% Retiring a module

maybe_steps([], Last) -> Last();
maybe_steps([Step | Rest], Last) ->
    case Step() of
        ok -> maybe_steps(Rest, Last);
        {error, _} = E -> E
    end.

%% A fresh stub, without the library, becomes the module's current code:
%% a caller that still holds the stopped instance gets `nif_not_loaded'
%% from it. The replaced code, which holds the library, is purged once no
%% call runs in it, and the VM unloads the library when the last of its
%% resources is collected.
retire(Module, WaitMs) ->
    case code:is_loaded(Module) of
        false ->
            ok;
        _ ->
            %% The old-code slot must be free to load the stub; it can only
            %% hold the stub this instance replaced when it started.
            case purge(Module, WaitMs) of
                ok ->
                    case emqx_extension_hook_stub:load(Module) of
                        ok -> _ = purge(Module, WaitMs), ok;
                        {error, Reason} ->
                            logger:warning("exhook: ~p not retired: ~0p", [Module, Reason])
                    end;
                busy ->
                    ok
            end
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
