%% The demo: an Erlang node with the plugin and example handler (a), the
%% seed article's CustomHook in Rust, deciding a realistic client session
%% replayed from hook arguments captured in EMQX 4.4.19. The broker is the
%% test stand-in (tests/emqx_hooks.erl and friends), which runs hooks with
%% EMQX's own fold semantics.
-module(exhook_demo).

-export([main/1]).

main([Library]) ->
    show_handler_logs(),
    ok = exhook_broker:start(),
    ok = application:load(emqx_extension_hook),
    ok = application:set_env(emqx_extension_hook, drivers,
                             [{custom, [{path, Library}, {call_timeout, 5000}]}]),
    {ok, _} = application:ensure_all_started(emqx_extension_hook),
    [#{name := Name, hooks := Hooks}] = emqx_extension_hook:list(),
    io:format("~nDriver ~ts enabled from ~ts~n  hooks registered: ~p~n",
              [Name, filename:basename(Library), Hooks]),
    good_session(),
    refused_login(),
    anonymous_acl(),
    ok = application:stop(emqx_extension_hook),
    io:format("~nPlugin stopped: driver deinit ran, hooks removed.~n"),
    halt(0).

%% The handlers' log records (the `log' crate's, through the broker's
%% logger), one line each with its level; nothing else of the logger.
show_handler_logs() ->
    ok = logger:set_primary_config(level, info),
    ok = logger:set_handler_config(default, formatter,
                                   {logger_formatter, #{single_line => true,
                                                        template => ["  [", level, "] ", msg, "\n"]}}),
    ok = logger:set_handler_config(default, filter_default, stop),
    ok = logger:set_handler_config(default, filters,
                                   [{handler_logs, {fun logger_filters:domain/2,
                                                    {log, sub, [emqx_extension_hook, handler]}}}]).

sample(Point) -> exhook_samples:args(Point).

title(Text) -> io:format("~n== ~ts ==~n", [Text]).

show(Point, Decision) ->
    io:format("  ~-22ts -> ~ts~n", [Point, Decision]).

%% subA (username "good") connects, subscribes; pubA publishes to p/1;
%% subA receives and acks it; both disconnect.
good_session() ->
    title("subA connects as \"good\", subscribes p/#; pubA publishes m1 to p/1"),
    [ConnInfo0, Props] = sample('client.connect'),
    ConnInfo = ConnInfo0#{clientid => <<"subA">>, username => <<"good">>},
    show('client.connect', connect(exhook_broker:connect(ConnInfo, Props))),
    [Client0, _] = sample('client.authenticate'),
    Client = Client0#{clientid => <<"subA">>, username => <<"good">>},
    show('client.authenticate', login(exhook_broker:authenticate(Client, false))),
    notify('client.connack', [ConnInfo, success, #{}]),
    [Authed, ConnInfo1] = sample('client.connected'),
    notify('client.connected', [Authed, ConnInfo1]),
    notify('session.created', sample('session.created')),
    [_, _, Filters] = sample('client.subscribe'),
    show('client.check_acl', io_lib:format("subscribe p/# ~p",
                                           [exhook_broker:check_acl(Authed, subscribe, <<"p/#">>, deny)])),
    show('client.subscribe', io_lib:format("~0p", [exhook_broker:subscribe(Authed, #{}, Filters)])),
    notify('session.subscribed', sample('session.subscribed')),
    Msg = exhook_samples:message(),
    Publisher = Authed#{clientid => <<"pubA">>},
    show('client.check_acl', io_lib:format("publish p/1 ~p",
                                           [exhook_broker:check_acl(Publisher, publish, <<"p/1">>, deny)])),
    show('message.publish', publish(exhook_broker:publish(Msg))),
    [Subscriber, Delivered] = sample('message.delivered'),
    Out = exhook_broker:deliver(Subscriber, Delivered),
    show('message.delivered', io_lib:format("subA receives ~ts: ~ts", [element(7, Out), element(8, Out)])),
    notify('message.acked', sample('message.acked')),
    notify('client.disconnected', sample('client.disconnected')),
    notify('session.terminated', sample('session.terminated')),
    %% The handler's log records reach the logger asynchronously.
    timer:sleep(50).

%% A client with an empty clientid: the handler refuses the login, even
%% though the broker allows anonymous logins.
refused_login() ->
    title("a client with an empty clientid tries to log in (allow_anonymous = true)"),
    [Client, _] = sample('client.authenticate'),
    show('client.authenticate', login(exhook_broker:authenticate(Client#{clientid => <<>>}, true))).

%% A client without a username: every ACL check is denied.
anonymous_acl() ->
    title("a client without a username publishes (broker default: allow)"),
    Client = (exhook_samples:client_info())#{username => undefined, clientid => <<"anon">>},
    show('client.check_acl', io_lib:format("publish p/1 ~p",
                                           [exhook_broker:check_acl(Client, publish, <<"p/1">>, allow)])).

notify(Point, Args) ->
    ok = exhook_broker:notify(Point, Args),
    %% Notifications are handled on the driver's workers after the hook
    %% returns; a moment lets the handler's own log line come first.
    timer:sleep(20),
    case emqx_hooks:lookup(Point) of
        [] -> show(Point, "(the handler does not implement it: not hooked)");
        _ -> show(Point, "handler notified")
    end.

connect({ok, _Props}) -> "accepted";
connect({error, Code}) -> io_lib:format("refused (reason code 16#~.16B)", [Code]).

login({ok, #{anonymous := Anon}}) -> io_lib:format("login allowed (anonymous=~p)", [Anon]);
login({error, Reason}) -> io_lib:format("login refused: ~p", [Reason]).

publish(dropped) -> "dropped";
publish({routed, Msg}) -> io_lib:format("routed ~ts (~b bytes)", [element(7, Msg), byte_size(element(8, Msg))]).
