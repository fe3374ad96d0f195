%% @doc Every call this plugin makes into EMQX, and nothing else.
%%
%% The plugin builds and runs without EMQX (tests use a stand-in for these
%% few functions); `broker_running/0' tells which case this is.
-module(emqx_extension_hook_emqx).

-export([broker_running/0, hook/3, unhook/2,
         register_cli/1, unregister_cli/0, print/2, usage/1,
         ensure_metrics/1, inc_metric/2]).

-define(CLI, exhook).

%% @doc True inside a running EMQX (its `emqx' module is loaded: EMQX runs
%% in embedded mode, so it is loaded at boot or not at all).
-spec broker_running() -> boolean().
broker_running() ->
    erlang:function_exported(emqx, hook, 3).

%% @doc Registers `{M, F, ExtraArgs}' on hook point `Point' at `Priority'
%% (higher runs first).
-spec hook(atom(), {module(), atom(), list()}, integer()) -> ok | {error, term()}.
hook(Point, MFA, Priority) ->
    case broker_running() of
        true -> emqx:hook(Point, MFA, Priority);
        false -> {error, broker_not_running}
    end.

%% @doc Removes the callback `{M, F, ExtraArgs}' from `Point': exactly
%% that one (EMQX removes every `{M, F, _}' when given `{M, F}').
-spec unhook(atom(), {module(), atom(), list()}) -> ok | {error, term()}.
unhook(Point, MFA) ->
    case broker_running() of
        true -> ok_or_error(emqx:unhook(Point, MFA));
        false -> {error, broker_not_running}
    end.

%% @doc Registers `emqx_ctl exhook ...', handled by `Module:cli/1'.
-spec register_cli(module()) -> ok | {error, term()}.
register_cli(Module) ->
    case erlang:function_exported(emqx_ctl, register_command, 3) of
        true -> ok_or_error(emqx_ctl:register_command(?CLI, {Module, cli}, []));
        false -> {error, broker_not_running}
    end.

%% @doc Removes the `exhook' command.
-spec unregister_cli() -> ok | {error, term()}.
unregister_cli() ->
    case erlang:function_exported(emqx_ctl, unregister_command, 1) of
        true -> ok_or_error(emqx_ctl:unregister_command(?CLI));
        false -> {error, broker_not_running}
    end.

%% @doc Prints to the `emqx_ctl' caller.
-spec print(io:format(), [term()]) -> ok.
print(Format, Args) ->
    _ = emqx_ctl:print(Format, Args),
    ok.

%% @doc Prints command usage to the `emqx_ctl' caller.
-spec usage([{string(), string()}]) -> ok.
usage(Commands) ->
    _ = emqx_ctl:usage(Commands),
    ok.

%% @doc Creates the EMQX counters `exhook.DRIVER.HOOK' (one per hook, as
%% the original plugin named them); by hook index + 1, or `none' outside
%% EMQX.
-spec ensure_metrics(binary()) -> none | tuple().
ensure_metrics(Driver) ->
    case erlang:function_exported(emqx_metrics, ensure, 1) of
        true ->
            Names = [binary_to_atom(<<"exhook.", Driver/binary, ".", (atom_to_binary(K, utf8))/binary>>, utf8)
                     || #{key := K} <- emqx_extension_hook_hooks:all()],
            [emqx_metrics:ensure(N) || N <- Names],
            list_to_tuple(Names);
        false ->
            none
    end.

%% @doc Adds `N' calls to EMQX metric `Name'.
-spec inc_metric(atom(), pos_integer()) -> ok.
inc_metric(Name, N) ->
    _ = emqx_metrics:inc(Name, N),
    ok.

ok_or_error({error, _} = E) -> E;
ok_or_error(_) -> ok.
