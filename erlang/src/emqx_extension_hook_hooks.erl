%% @doc The broker's 19 hook points: their index in the NIF, the callback
%% that handles each, how many arguments the broker passes, and whether the
%% broker folds the result (and so waits for a decision).
-module(emqx_extension_hook_hooks).

-export([all/0, by_name/1, by_key/1, fold_failure/3]).

-type hook_point() :: atom().
-type kind() :: fold | notify.
-type hook() :: #{point := hook_point(), index := 0..18, callback := atom(),
                  arity := pos_integer(), kind := kind(), key := atom()}.
-export_type([hook/0, hook_point/0]).

%% Index order is the SDK's `Hook` order; `emqx_extension_hook_driver`
%% checks it against the library's `hook_names/0` at load.
-define(HOOKS,
        [{'client.connect',       on_client_connect,       2, fold},
         {'client.connack',       on_client_connack,       3, notify},
         {'client.connected',     on_client_connected,     2, notify},
         {'client.disconnected',  on_client_disconnected,  3, notify},
         {'client.authenticate',  on_client_authenticate,  2, fold},
         {'client.check_acl',     on_client_check_acl,     4, fold},
         {'client.subscribe',     on_client_subscribe,     3, fold},
         {'client.unsubscribe',   on_client_unsubscribe,   3, notify},
         {'session.created',      on_session_created,      2, notify},
         {'session.subscribed',   on_session_subscribed,   3, notify},
         {'session.unsubscribed', on_session_unsubscribed, 3, notify},
         {'session.resumed',      on_session_resumed,      2, notify},
         {'session.discarded',    on_session_discarded,    2, notify},
         {'session.takeovered',   on_session_takeovered,   2, notify},
         {'session.terminated',   on_session_terminated,   3, notify},
         {'message.publish',      on_message_publish,      1, fold},
         {'message.delivered',    on_message_delivered,    2, fold},
         {'message.acked',        on_message_acked,        2, notify},
         {'message.dropped',      on_message_dropped,      3, notify}]).

%% @doc Every hook, in index order. `client.connack` and
%% `client.unsubscribe` are folds in the broker, but no handler decision
%% changes them, so they are called as notifications.
-spec all() -> [hook()].
all() ->
    {Hooks, _} = lists:mapfoldl(
                   fun({Point, Callback, Arity, Kind}, Index) ->
                           "on_" ++ Key = atom_to_list(Callback),
                           {#{point => Point, index => Index, callback => Callback,
                              arity => Arity, kind => Kind, key => list_to_atom(Key)},
                            Index + 1}
                   end, 0, ?HOOKS),
    Hooks.

%% @doc The hook named `Key' the way the original plugin and its config
%% name hooks (`client_check_acl').
-spec by_key(atom()) -> {ok, hook()} | {error, {unknown_hook, atom()}}.
by_key(Key) ->
    case [H || H = #{key := K} <- all(), K =:= Key] of
        [Hook] -> {ok, Hook};
        [] -> {error, {unknown_hook, Key}}
    end.

%% @doc The hook whose broker name is `Name` (as a binary, the way the NIF
%% reports it), without creating an atom.
-spec by_name(binary()) -> {ok, hook()} | {error, {unknown_hook, binary()}}.
by_name(Name) ->
    case [H || H = #{point := P} <- all(), atom_to_binary(P, utf8) =:= Name] of
        [Hook] -> {ok, Hook};
        [] -> {error, {unknown_hook, Name}}
    end.

%% @doc What the broker gets from fold hook `Point` called with `Args` when
%% the driver gave no decision (timeout, panic, bad input, not loaded):
%% with `ignore`, `ok` (the chain goes on as if the driver were not there);
%% with `deny`, the refusing answer of that hook. `message.delivered` has
%% no refusing answer and always goes on.
-spec fold_failure(hook_point(), tuple(), ignore | deny) -> term().
fold_failure(_Point, _Args, ignore) -> ok;
fold_failure('client.connect', _Args, deny) ->
    {stop, {error, 16#88}};                           % Server unavailable
fold_failure('client.authenticate', {_ClientInfo, Acc}, deny) when is_map(Acc) ->
    {stop, Acc#{auth_result => not_authorized, anonymous => false}};
fold_failure('client.check_acl', _Args, deny) ->
    {stop, deny};
fold_failure('client.subscribe', {_ClientInfo, _Props, Filters}, deny) when is_list(Filters) ->
    {ok, [{Filter, deny_opts(Opts)} || {Filter, Opts} <- Filters]};
fold_failure('message.publish', {Msg}, deny) when element(1, Msg) =:= message ->
    {stop, setelement(6, Msg, (element(6, Msg))#{allow_publish => false})};
fold_failure(_Point, _Args, deny) ->
    ok.

deny_opts(Opts) when is_map(Opts) -> Opts#{deny_subscription => true};
deny_opts(Opts) -> Opts.
