%% The demo: an Erlang node with the plugin, running one realistic client
%% session (hook arguments captured in EMQX 4.4.19) through the seed
%% article's CustomHook twice: the Rust example handler (a), then the
%% article's hooks.py itself, unchanged, on the PyPI SDK in a virtual
%% environment, with the article's config (driver python3, path
%% data/extension/, init_module hooks; the node's working directory is the
%% "release root"). Each decision is printed beside the other's. The broker
%% is the test stand-in (tests/emqx_hooks.erl and friends), which runs
%% hooks with EMQX's own fold semantics.
-module(exhook_demo).

-export([main/1]).

main([Library, Venv]) ->
    show_handler_logs(),
    ok = exhook_broker:start(),
    ok = application:load(emqx_extension_hook),
    Rust = run("Rust: the custom_hook example, " ++ filename:basename(Library),
               {custom, [{path, Library}, {call_timeout, 5000}]}),
    Python = run("Python: data/extension/hooks.py, the article's CustomHook on the PyPI SDK",
                 {python3, [{path, "data/extension/"}, {init_module, "hooks"}, {venv, Venv}]}),
    side_by_side(Rust, Python),
    halt(0).

%% Enables `Driver' alone, replays the session, stops the plugin; the
%% decisions, by scenario.
run(Title, Driver) ->
    ok = application:set_env(emqx_extension_hook, drivers, [Driver]),
    {ok, _} = application:ensure_all_started(emqx_extension_hook),
    [#{name := Name, hooks := Hooks}] = emqx_extension_hook:list(),
    io:format("~n== ~ts ==~nDriver ~ts enabled, hooks registered: ~p~n", [Title, Name, Hooks]),
    Rows = [good_session(), refused_login(), anonymous_acl()],
    %% The handler's log records reach the logger asynchronously.
    timer:sleep(100),
    ok = application:stop(emqx_extension_hook),
    io:format("Plugin stopped: driver deinit ran, hooks removed.~n"),
    Rows.

side_by_side(Rust, Python) ->
    io:format("~n== The same session, decided by each ==~n"),
    lists:foreach(
      fun({{Scenario, RustRows}, {Scenario, PythonRows}}) ->
              io:format("~n~ts~n  ~-22ts ~-40ts ~ts~n", [Scenario, "hook", "Rust (custom_hook)",
                                                          "Python (hooks.py)"]),
              [io:format("  ~-22ts ~-40ts ~ts~n", [Point, R, P])
               || {{Point, R}, {Point, P}} <- lists:zip(RustRows, PythonRows)]
      end, lists:zip(Rust, Python)).

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

row(Point, Decision) -> {Point, lists:flatten(Decision)}.

%% subA (username "good") connects, subscribes; pubA publishes to p/1;
%% subA receives and acks it; both disconnect.
good_session() ->
    [ConnInfo0, Props] = sample('client.connect'),
    ConnInfo = ConnInfo0#{clientid => <<"subA">>, username => <<"good">>},
    Connect = row('client.connect', connect(exhook_broker:connect(ConnInfo, Props))),
    [Client0, _] = sample('client.authenticate'),
    Client = Client0#{clientid => <<"subA">>, username => <<"good">>},
    Login = row('client.authenticate', login(exhook_broker:authenticate(Client, false))),
    Connack = notify('client.connack', [ConnInfo, success, #{}]),
    [Authed, ConnInfo1] = sample('client.connected'),
    Connected = notify('client.connected', [Authed, ConnInfo1]),
    Created = notify('session.created', sample('session.created')),
    [_, _, Filters] = sample('client.subscribe'),
    SubAcl = row('client.check_acl',
                 io_lib:format("subscribe p/# ~p",
                               [exhook_broker:check_acl(Authed, subscribe, <<"p/#">>, deny)])),
    Subscribe = row('client.subscribe',
                    io_lib:format("~0p", [exhook_broker:subscribe(Authed, #{}, Filters)])),
    Subscribed = notify('session.subscribed', sample('session.subscribed')),
    Msg = exhook_samples:message(),
    Publisher = Authed#{clientid => <<"pubA">>},
    PubAcl = row('client.check_acl',
                 io_lib:format("publish p/1 ~p",
                               [exhook_broker:check_acl(Publisher, publish, <<"p/1">>, deny)])),
    Publish = row('message.publish', publish(exhook_broker:publish(Msg))),
    [Subscriber, Delivered] = sample('message.delivered'),
    Out = exhook_broker:deliver(Subscriber, Delivered),
    Delivery = row('message.delivered',
                   io_lib:format("subA receives ~ts: ~ts", [element(7, Out), element(8, Out)])),
    Rest = [notify(P, sample(P))
            || P <- ['message.acked', 'client.disconnected', 'session.terminated']],
    {"subA connects as \"good\", subscribes p/#; pubA publishes m1 to p/1",
     [Connect, Login, Connack, Connected, Created, SubAcl, Subscribe, Subscribed, PubAcl,
      Publish, Delivery | Rest]}.

%% A client with an empty clientid: the handler refuses the login, even
%% though the broker allows anonymous logins.
refused_login() ->
    [Client, _] = sample('client.authenticate'),
    {"a client with an empty clientid tries to log in (allow_anonymous = true)",
     [row('client.authenticate', login(exhook_broker:authenticate(Client#{clientid => <<>>}, true)))]}.

%% A client without a username: every ACL check is denied.
anonymous_acl() ->
    Client = (exhook_samples:client_info())#{username => undefined, clientid => <<"anon">>},
    {"a client without a username publishes (broker default: allow)",
     [row('client.check_acl',
          io_lib:format("publish p/1 ~p",
                        [exhook_broker:check_acl(Client, publish, <<"p/1">>, allow)]))]}.

notify(Point, Args) ->
    ok = exhook_broker:notify(Point, Args),
    %% Notifications are handled on the driver's workers after the hook
    %% returns; a moment lets the handler's own log line come first.
    timer:sleep(20),
    case emqx_hooks:lookup(Point) of
        [] -> row(Point, "(not implemented: not hooked)");
        _ -> row(Point, "handler notified")
    end.

connect({ok, _Props}) -> "accepted";
connect({error, Code}) -> io_lib:format("refused (reason code 16#~.16B)", [Code]).

login({ok, #{anonymous := Anon}}) -> io_lib:format("login allowed (anonymous=~p)", [Anon]);
login({error, Reason}) -> io_lib:format("login refused: ~p", [Reason]).

publish(dropped) -> "dropped";
publish({routed, Msg}) -> io_lib:format("routed ~ts (~b bytes)", [element(7, Msg), byte_size(element(8, Msg))]).
