%% Test stand-in for what EMQX 4.4 does with each fold hook's result
%% (emqx_access_control, emqx_channel, emqx_broker), so tests assert the
%% effect the broker would see, not the callback's raw return value.
-module(exhook_broker).

-export([start/0, stop/0, authenticate/2, check_acl/4, connect/2, subscribe/3,
         publish/1, deliver/2, notify/2, replay/2]).

%% Starts the stand-in broker: its hook registry, the modules the plugin's
%% adapter looks for (EMQX runs in embedded mode, so they are loaded at
%% boot), and `emqx_ctl plugins load | unload'.
start() ->
    [{module, _} = code:ensure_loaded(M) || M <- [emqx, emqx_hooks, emqx_ctl, emqx_metrics,
                                                  emqx_plugins]],
    {ok, _} = emqx_hooks:start_link(),
    ok = emqx_ctl:register_command(plugins, {emqx_plugins, cli}, []),
    ok.

stop() ->
    emqx_hooks:stop().

%% emqx_access_control:authenticate/1: the default follows allow_anonymous;
%% success merges the result, anything else is a refused login.
authenticate(ClientInfo, AllowAnonymous) ->
    Default = case AllowAnonymous of
                  true -> #{auth_result => success, anonymous => true};
                  false -> #{auth_result => not_authorized, anonymous => false}
              end,
    case emqx_hooks:run_fold('client.authenticate', [ClientInfo], Default) of
        Result = #{auth_result := success} -> {ok, Result};
        Result -> {error, maps:get(auth_result, Result, unknown_error)}
    end.

%% emqx_access_control:check_acl/3: anything but `allow' denies.
check_acl(ClientInfo, PubSub, Topic, Default) ->
    case emqx_hooks:run_fold('client.check_acl', [ClientInfo, PubSub, Topic], Default) of
        allow -> allow;
        _ -> deny
    end.

%% emqx_channel: `{error, ReasonCode}' refuses the CONNECT.
connect(ConnInfo, Props) ->
    case emqx_hooks:run_fold('client.connect', [ConnInfo], Props) of
        {error, _} = Error -> Error;
        NewProps -> {ok, NewProps}
    end.

%% emqx_channel: the filters to subscribe, each `{Filter, {ok, QoS}}' or
%% `{Filter, {error, 16#80}}' when a hook set `deny_subscription'.
subscribe(ClientInfo, Props, TopicFilters) ->
    Result = emqx_hooks:run_fold('client.subscribe', [ClientInfo, Props], TopicFilters),
    [case Opts of
         #{deny_subscription := true} -> {Filter, {error, 16#80}};
         #{qos := QoS} -> {Filter, {ok, QoS}};
         _ -> {Filter, {ok, 0}}
     end || {Filter, Opts} <- Result].

%% emqx_broker:publish/1: `allow_publish => false' stops delivery.
publish(Msg) ->
    case emqx_hooks:run_fold('message.publish', [], Msg) of
        {message, _, _, _, _, #{allow_publish := false}, _, _, _} -> dropped;
        Msg1 -> {routed, Msg1}
    end.

%% emqx_session: what the subscriber receives.
deliver(ClientInfo, Msg) ->
    emqx_hooks:run_fold('message.delivered', [ClientInfo], Msg).

%% A notification hook.
notify(Point, Args) ->
    emqx_hooks:run(Point, Args).

%% Replays one captured hook call as the broker made it.
replay(Point, Args) ->
    case lists:member(Point, fold_points()) of
        true ->
            {HookArgs, [Acc]} = lists:split(length(Args) - 1, Args),
            emqx_hooks:run_fold(Point, HookArgs, Acc);
        false ->
            emqx_hooks:run(Point, Args)
    end.

fold_points() ->
    ['client.connect', 'client.connack', 'client.authenticate', 'client.check_acl',
     'client.subscribe', 'client.unsubscribe', 'message.publish', 'message.delivered'].
