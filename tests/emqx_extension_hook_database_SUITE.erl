%% The database example (native/examples/database) through the plugin, on
%% a real store: an SQLite file, and a PostgreSQL server the suite starts
%% (scripts/test-postgres.sh). Users and rules go in with the example's
%% exhook-db command; the tables are read back with it. Hook arguments are
%% the real EMQX 4.4.19 samples, run through the broker stand-in.
%%
%% Group `python': the same cases through the Python version
%% (native/python/examples/database, a python3 driver in _build/pyvenv) on
%% SQLite, its settings given as the conf's `handler.KEY' lines give them;
%% where the Python driver hands it less (no connection times, no peer
%% port, no message flags) the case says what it expects instead. Group
%% `python_port': some of them with the driver's transport = port.
-module(emqx_extension_hook_database_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(APP, emqx_extension_hook).
-define(T1, 1795654383898).
%% Python drivers' worker threads, or OS processes with transport = port.
-define(PORT_PROCESSES, 2).

all() ->
    [{group, sqlite}, {group, postgres}, {group, two_nodes}, {group, python},
     {group, python_port}].

groups() ->
    Cases = [logins_allowed_and_denied, acl_rules_with_placeholders_first_match_wins,
             acl_rules_refresh_from_the_table, online_rows_and_history_through_a_takeover,
             messages_on_store_topics_are_stored, database_unavailable_mid_run,
             full_buffer_drops_while_unavailable, disable_flushes_and_unloads_the_library],
    SqliteOnly = [unopenable_database_gets_the_policy_until_it_opens],
    [{sqlite, [], Cases ++ SqliteOnly},
     {postgres, [], Cases},
     {two_nodes, [], [two_broker_nodes_share_one_postgres]},
     {python, [], Cases ++ SqliteOnly ++ [users_added_by_either_command_log_in_through_either]},
     %% The same module in OS processes of its own (transport = port), one
     %% interpreter, writer and ACL snapshot each, on one SQLite file.
     {python_port, [], [logins_allowed_and_denied, acl_rules_with_placeholders_first_match_wins,
                        messages_on_store_topics_are_stored,
                        disable_flushes_and_unloads_the_library | SqliteOnly]}].

init_per_suite(Config) ->
    ok = exhook_broker:start(),
    Config.

end_per_suite(_Config) ->
    _ = application:stop(?APP),
    exhook_broker:stop().

init_per_group(sqlite, Config) ->
    [{backend, sqlite} | Config];
init_per_group(python, Config) ->
    [{backend, sqlite}, {flavour, python}, {venv, ensure_venv()} | Config];
init_per_group(python_port, Config) ->
    [{backend, sqlite}, {flavour, python}, {transport, port}, {venv, ensure_venv()} | Config];
init_per_group(_PostgresGroup, Config) ->
    Dir = script(["new"]),
    [{backend, postgres}, {pg_dir, Dir} | Config].

end_per_group(_Group, Config) ->
    exhook_test_plugin:stop(),
    case ?config(pg_dir, Config) of
        undefined -> ok;
        Dir -> script(["remove", Dir])
    end.

%% Every case gets a store of its own (groups run the same cases).
init_per_testcase(Case, Config) ->
    Store = case ?config(backend, Config) of
                sqlite ->
                    Group = atom_to_list(flavour(Config)) ++ "-"
                        ++ atom_to_list(proplists:get_value(transport, Config, nif)),
                    {database, filename:join([?config(priv_dir, Config), Group, atom_to_list(Case),
                                              "data", "exhook.sqlite3"])};
                postgres ->
                    Dir = ?config(pg_dir, Config),
                    Name = "c" ++ integer_to_list(erlang:unique_integer([positive])),
                    _ = exhook_db([{database_url, url(Dir, "postgres")}],
                                  ["query", "CREATE DATABASE " ++ Name]),
                    {database_url, url(Dir, Name)}
            end,
    [{store, [Store]} | Config].

end_per_testcase(_Case, Config) ->
    exhook_test_plugin:stop(),
    exhook_log_capture:uninstall(),
    %% A case that stopped the server leaves it running for the next.
    case ?config(pg_dir, Config) of
        undefined -> ok;
        Dir -> script(["start", Dir])
    end.

%%--------------------------------------------------------------------
%% Helpers

%% The driver `db': the example library on this case's store.
start(Config, Extra) ->
    exhook_test_plugin:start([driver(db, Config, [{node, "emqx@a"} | Extra])]).

%% `Extra' first: the handler reads the first value of a key. The Rust
%% handler gets its settings as driver keys, the Python one as the conf's
%% `exhook.drivers.db.handler.KEY' lines put them (both reach the handler).
driver(Name, Config, Extra) ->
    Settings = Extra ++ [{batch_interval, "20ms"}, {acl_refresh, "100ms"},
                         {db_timeout, "500ms"}, {store_topics, "p/#,sensors/#"}
                         | ?config(store, Config)],
    case flavour(Config) of
        rust ->
            {Name, [{path, exhook_samples:library(emqx_example_database)},
                    {failed_action, deny} | Settings]};
        python ->
            {Name, [{kind, python3}, {path, python_example()}, {init_module, "hooks"},
                    {venv, ?config(venv, Config)}, {failed_action, deny},
                    {transport, proplists:get_value(transport, Config, nif)},
                    {pool_size, ?PORT_PROCESSES},
                    {handler, Settings}]}
    end.

flavour(Config) ->
    proplists:get_value(flavour, Config, rust).

python_example() ->
    filename:join([root(), "native", "python", "examples", "database"]).

%% scripts/python-venv.sh: Debian's python3 with the PyPI SDK and
%% argon2-cffi, in _build/pyvenv. Does nothing when it exists.
ensure_venv() ->
    Out = os:cmd(filename:join([root(), "scripts", "python-venv.sh"]) ++ " 2>&1; echo \"exit=$?\""),
    ct:log("python-venv.sh: ~ts", [Out]),
    ?assertNotEqual(nomatch, string:find(Out, "exit=0")),
    filename:join([root(), "_build", "pyvenv"]).

%% Runs the Python version's command (`python -m exhook_db') on `Store'.
py_exhook_db(Config, Args, Stdin) ->
    [{database, File}] = ?config(store, Config),
    Python = filename:join([?config(venv, Config), "bin", "python"]),
    run(Python, ["-m", "exhook_db", "--database", File | Args], Stdin,
        [{"PYTHONPATH", python_example()}, {"PYTHONDONTWRITEBYTECODE", "1"}]).

root() -> exhook_samples:root().

script(Args) ->
    run(filename:join([root(), "scripts", "test-postgres.sh"]), Args, "").

url(Dir, Db) ->
    "host=" ++ Dir ++ " user=postgres dbname=" ++ Db.

%% Runs exhook-db on `Store'; its output.
exhook_db(Store, Args) ->
    exhook_db(Store, Args, "").

exhook_db(Store, Args, Stdin) ->
    StoreArgs = lists:append([["--" ++ string:replace(atom_to_list(K), "_", "-"), V]
                              || {K, V} <- Store]),
    run(filename:join([root(), "target", "release", "exhook-db"]),
        [lists:flatten(A) || A <- StoreArgs] ++ Args, Stdin).

%% Runs `Program Args' with `Stdin' on its standard input; its output, or
%% the case fails with it.
run(Program, Args, Stdin) ->
    run(Program, Args, Stdin, []).

run(Program, Args, Stdin, Env) ->
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", "printf '%s' \"$INPUT\" | \"$@\"", "sh", Program | Args]},
                      {env, [{"INPUT", Stdin} | Env]}, exit_status, stderr_to_stdout, binary]),
    collect(Port, <<>>, {Program, Args}).

collect(Port, Acc, What) ->
    receive
        {Port, {data, Data}} -> collect(Port, <<Acc/binary, Data/binary>>, What);
        {Port, {exit_status, 0}} -> string:trim(binary_to_list(Acc));
        {Port, {exit_status, N}} -> ct:fail({command_failed, What, N, Acc})
    after 60000 -> ct:fail({command_timed_out, What})
    end.

add_user(Config, User, Password, Flags) ->
    exhook_db(?config(store, Config), ["add-user", User, "--memory-kib", "64",
                                       "--iterations", "1" | Flags], Password ++ "\n").

add_rule(Config, Args) ->
    exhook_db(?config(store, Config), ["add-rule" | Args]).

%% The rows of `Sql', each a list of strings (`null' for NULL).
rows(Config, Sql) ->
    [_Header | Lines] = string:split(exhook_db(?config(store, Config), ["query", Sql]), "\n", all),
    [[case F of "\\N" -> null; _ -> F end || F <- string:split(L, "\t", all)]
     || L <- Lines, L =/= ""].

%% Waits (up to 15 s) until `Sql' returns `Expected'.
await_rows(Config, Sql, Expected) ->
    await_rows(Config, Sql, Expected, 150).

await_rows(Config, Sql, Expected, 0) ->
    ?assertEqual(Expected, rows(Config, Sql));
await_rows(Config, Sql, Expected, Tries) ->
    case rows(Config, Sql) of
        Expected -> ok;
        _ -> timer:sleep(100), await_rows(Config, Sql, Expected, Tries - 1)
    end.

login(User, Password) ->
    ClientInfo = (hd(exhook_samples:args('client.authenticate')))#{
                   clientid => <<"c-", User/binary>>, username => User, password => Password},
    exhook_broker:authenticate(ClientInfo, false).

acl(User, ClientId, PubSub, Topic) ->
    ClientInfo = (exhook_samples:client_info())#{username => User, clientid => ClientId},
    exhook_broker:check_acl(ClientInfo, PubSub, Topic, deny).

%% The connected and disconnected samples, for `ClientId' on a
%% connection accepted at `At' from port `Port'.
connected(ClientId, At, Port) ->
    [ClientInfo, ConnInfo] = exhook_samples:args('client.connected'),
    ['client.connected', ClientInfo#{clientid => ClientId},
     ConnInfo#{clientid => ClientId, connected_at => At, peername => {{127, 0, 0, 1}, Port}}].

disconnected(ClientId, At, Port, Reason, GoneAt) ->
    [ClientInfo, _, ConnInfo] = exhook_samples:args('client.disconnected'),
    ['client.disconnected', ClientInfo#{clientid => ClientId}, Reason,
     ConnInfo#{clientid => ClientId, connected_at => At, disconnected_at => GoneAt,
               peername => {{127, 0, 0, 1}, Port}}].

notify([Point | Args]) ->
    ok = exhook_broker:notify(Point, Args).

message(Topic, Payload) ->
    setelement(8, setelement(7, exhook_samples:message(), Topic), Payload).

failed(Hook) ->
    maps:get(failed, exhook_test_plugin:stats(db, Hook)).

%% The database is unavailable: the PostgreSQL server stopped, or the
%% SQLite file's write lock held by another process. Returns how to end it.
begin_outage(Config) ->
    case ?config(backend, Config) of
        postgres ->
            Dir = ?config(pg_dir, Config),
            script(["stop", Dir]),
            fun() -> script(["start", Dir]) end;
        sqlite ->
            [{database, File}] = ?config(store, Config),
            Tool = filename:join([root(), "target", "release", "exhook-db"]),
            Port = open_port({spawn_executable, Tool},
                             [{args, ["--database", File, "lock"]}, binary, {line, 80}]),
            receive {Port, {data, {eol, <<"locked">>}}} -> ok
            after 15000 -> ct:fail(lock_not_taken)
            end,
            fun() -> port_close(Port) end
    end.

%%--------------------------------------------------------------------
%% Cases

logins_allowed_and_denied(Config) ->
    start(Config, []),
    add_user(Config, "alice", "wonderland", []),
    add_user(Config, "root", "t0ps3cret", ["--superuser"]),
    %% Anonymous logins are off: only the handler lets anyone in.
    ?assertMatch({ok, #{auth_result := success, is_superuser := false}},
                 login(<<"alice">>, <<"wonderland">>)),
    ?assertMatch({ok, #{auth_result := success, is_superuser := true}},
                 login(<<"root">>, <<"t0ps3cret">>)),
    %% With anonymous logins on, a refusal still stands.
    Wrong = (hd(exhook_samples:args('client.authenticate')))#{username => <<"alice">>,
                                                               password => <<"Wonderland">>},
    ?assertEqual({error, not_authorized}, exhook_broker:authenticate(Wrong, true)),
    ?assertEqual({error, not_authorized}, login(<<"mallory">>, <<"wonderland">>)),
    ?assertEqual({error, not_authorized}, login(<<"alice">>, undefined)),
    %% The captured sample: user "bad" exists nowhere.
    ?assertEqual({error, not_authorized},
                 exhook_broker:authenticate(hd(exhook_samples:args('client.authenticate')), true)),
    %% Every answer was the handler's own, none the failure policy.
    ?assertEqual(0, failed('client.authenticate')).

acl_rules_with_placeholders_first_match_wins(Config) ->
    add_rule(Config, ["allow", "username:dashboard", "subscribe", "$SYS/#"]),
    add_rule(Config, ["allow", "all", "pubsub", "users/%u/#"]),
    add_rule(Config, ["allow", "all", "publish", "clients/%c/status"]),
    add_rule(Config, ["deny", "all", "subscribe", "$SYS/#"]),
    add_rule(Config, ["deny", "all", "subscribe", "eq #"]),
    add_rule(Config, ["allow", "all", "subscribe", "p/#"]),
    start(Config, []),
    ?assertEqual(allow, acl(<<"alice">>, <<"c1">>, publish, <<"users/alice/in">>)),
    ?assertEqual(allow, acl(<<"alice">>, <<"c1">>, subscribe, <<"users/alice/#">>)),
    ?assertEqual(deny, acl(<<"alice">>, <<"c1">>, publish, <<"users/bob/in">>)),
    ?assertEqual(allow, acl(<<"bob">>, <<"c7">>, publish, <<"clients/c7/status">>)),
    ?assertEqual(deny, acl(<<"bob">>, <<"c7">>, publish, <<"clients/c8/status">>)),
    ?assertEqual(allow, acl(<<"dashboard">>, <<"d">>, subscribe, <<"$SYS/brokers">>)),
    ?assertEqual(deny, acl(<<"bob">>, <<"d">>, subscribe, <<"$SYS/brokers">>)),
    ?assertEqual(deny, acl(<<"bob">>, <<"d">>, subscribe, <<"#">>)),
    %% A username that looks like a wildcard is only a name.
    ?assertEqual(deny, acl(<<"+">>, <<"c">>, publish, <<"users/bob/in">>)),
    %% The captured sample: subA (user good) subscribes to p/#.
    [ClientInfo, subscribe, Topic, _] = exhook_samples:args('client.check_acl'),
    ?assertEqual(allow, exhook_broker:check_acl(ClientInfo, subscribe, Topic, deny)),
    %% No rule matched: no opinion, the broker's default (deny here) stands.
    ?assertEqual(deny, acl(<<"bob">>, <<"c">>, publish, <<"elsewhere">>)),
    ?assertEqual(allow, exhook_broker:check_acl(ClientInfo, publish, <<"elsewhere">>, allow)),
    ?assertEqual(0, failed('client.check_acl')).

acl_rules_refresh_from_the_table(Config) ->
    start(Config, []),
    ?assertEqual(allow, acl(<<"alice">>, <<"c1">>, publish, <<"t/1">>, allow)),
    add_rule(Config, ["deny", "username:alice", "publish", "t/+"]),
    %% acl_refresh is 100 ms here.
    ?assertEqual(ok, wait_for(fun() -> acl(<<"alice">>, <<"c1">>, publish, <<"t/1">>, allow)
                                       =:= deny end)),
    ?assertEqual(allow, acl(<<"bob">>, <<"c2">>, publish, <<"t/1">>, allow)).

acl(User, ClientId, PubSub, Topic, Default) ->
    ClientInfo = (exhook_samples:client_info())#{username => User, clientid => ClientId},
    exhook_broker:check_acl(ClientInfo, PubSub, Topic, Default).

wait_for(Done) -> wait_for(Done, 100).
wait_for(_Done, 0) -> timeout;
wait_for(Done, Tries) ->
    case Done() of
        true -> ok;
        false -> timer:sleep(50), wait_for(Done, Tries - 1)
    end.

online_rows_and_history_through_a_takeover(Config) ->
    start(Config, []),
    Before = erlang:system_time(millisecond),
    T2 = ?T1 + 1000,
    %% subA connects, then a new connection takes its session over; the
    %% old connection's disconnect is handled after the new connect.
    notify(connected(<<"subA">>, ?T1, 33870)),
    notify(connected(<<"subA">>, T2, 40000)),
    notify(disconnected(<<"subA">>, ?T1, 33870, takeovered, T2 + 1)),
    %% pubA: the real disconnected sample, after its connect.
    [_, _, #{connected_at := PubAt, disconnected_at := PubGone}] =
        exhook_samples:args('client.disconnected'),
    notify(connected(<<"pubA">>, PubAt, 33878)),
    ok = exhook_broker:notify('client.disconnected', exhook_samples:args('client.disconnected')),
    case flavour(Config) of
        rust -> takeover_rows_from_the_connections(Config, T2, PubAt, PubGone);
        python -> takeover_rows_from_the_handlers_clock(Config, Before)
    end,
    %% Then the new connection ends too.
    notify(disconnected(<<"subA">>, T2, 40000, normal, T2 + 50)),
    Gone = case flavour(Config) of
               rust -> integer_to_list(T2 + 50);
               python -> await_value(Config, "SELECT MAX(at) FROM mqtt_client_history "
                                             "WHERE clientid = 'subA' AND reason = 'normal'")
           end,
    await_rows(Config, "SELECT CAST(online AS INTEGER), disconnected_at FROM mqtt_clients "
                       "WHERE clientid = 'subA'",
               [["0", Gone]]).

%% The Rust handler reads the connection's times and peer from ConnInfo:
%% the row names the connection, whatever order the events arrive in.
takeover_rows_from_the_connections(Config, T2, PubAt, PubGone) ->
    Clients = "SELECT clientid, CAST(online AS INTEGER), node, peer, protocol, proto_ver, "
              "username, connected_at, disconnected_at, disconnect_reason "
              "FROM mqtt_clients ORDER BY clientid",
    await_rows(Config, Clients,
               [["pubA", "0", "emqx@a", "127.0.0.1:33878", "mqtt", "4", "good",
                 integer_to_list(PubAt), integer_to_list(PubGone), "normal"],
                ["subA", "1", "emqx@a", "127.0.0.1:40000", "mqtt", "4", "good",
                 integer_to_list(T2), null, null]]),
    ?assertEqual([["connected", integer_to_list(?T1), "127.0.0.1:33870", null],
                  ["connected", integer_to_list(T2), "127.0.0.1:40000", null],
                  ["disconnected", integer_to_list(T2 + 1), "127.0.0.1:33870", "takeovered"]],
                 rows(Config, "SELECT event, at, peer, reason FROM mqtt_client_history "
                              "WHERE clientid = 'subA' ORDER BY id")).

%% The Python driver hands the hook ClientInfo only (the original's
%% contract): the peer's address without its port, no protocol version,
%% no connection times. Times are the handler's clock; a disconnect whose
%% reason says a newer connection took the session leaves the row alone.
takeover_rows_from_the_handlers_clock(Config, Before) ->
    Clients = "SELECT clientid, CAST(online AS INTEGER), node, peer, protocol, proto_ver, "
              "username, disconnect_reason FROM mqtt_clients ORDER BY clientid",
    await_rows(Config, Clients,
               [["pubA", "0", "emqx@a", "127.0.0.1", "mqtt", null, "good", "normal"],
                ["subA", "1", "emqx@a", "127.0.0.1", "mqtt", null, "good", null]]),
    History = rows(Config, "SELECT event, peer, reason, at FROM mqtt_client_history "
                           "WHERE clientid = 'subA' ORDER BY id"),
    ?assertMatch([["connected", "127.0.0.1", null, _],
                  ["connected", "127.0.0.1", null, _],
                  ["disconnected", "127.0.0.1", "takeovered", _]], History),
    [[_, _, _, First], [_, _, _, Second], [_, _, _, Third]] = History,
    ?assert(Before =< list_to_integer(First)),
    ?assert(list_to_integer(First) =< list_to_integer(Second)),
    ?assert(list_to_integer(Second) =< list_to_integer(Third)),
    %% The row names the newer connection.
    ?assertEqual([[Second, null]],
                 rows(Config, "SELECT connected_at, disconnected_at FROM mqtt_clients "
                              "WHERE clientid = 'subA'")).

%% The one value `Sql' returns, once it returns one.
await_value(Config, Sql) ->
    ?assertEqual(ok, wait_for(fun() -> rows(Config, Sql) =/= [[null]] end)),
    [[Value]] = rows(Config, Sql),
    Value.

messages_on_store_topics_are_stored(Config) ->
    start(Config, []),
    Msg = exhook_samples:message(),
    %% Storing never changes or blocks the message.
    ?assertEqual({routed, Msg}, exhook_broker:publish(Msg)),
    Binary = list_to_binary(lists:seq(0, 255)),
    ?assertMatch({routed, _}, exhook_broker:publish(message(<<"sensors/7/raw">>, Binary))),
    ?assertMatch({routed, _}, exhook_broker:publish(message(<<"chat/room">>, <<"not stored">>))),
    Sql = "SELECT msgid, topic, qos, payload, publisher, username, CAST(retain AS INTEGER), "
          "published_at, node FROM mqtt_messages ORDER BY id",
    Hex = lists:flatten([io_lib:format("~2.16.0b", [B]) || <<B>> <= Binary]),
    %% The Python driver's message has no username (nor flags: retain is
    %% stored false, as this one is).
    User = case flavour(Config) of rust -> "good"; python -> null end,
    await_rows(Config, Sql,
               [["000661235dc06475f443000006ae0001", "p/1", "1", "\\\\x6d31", "pubA", User,
                 "0", "1795654384903", "emqx@a"],
                ["000661235dc06475f443000006ae0001", "sensors/7/raw", "1", "\\\\x" ++ Hex,
                 "pubA", User, "0", "1795654384903", "emqx@a"]]),
    ?assertEqual(0, failed('message.publish')).

database_unavailable_mid_run(Config) ->
    start(Config, [{db_timeout, "300ms"}]),
    add_user(Config, "alice", "wonderland", []),
    ?assertMatch({ok, _}, login(<<"alice">>, <<"wonderland">>)),
    End = begin_outage(Config),
    case ?config(backend, Config) of
        postgres ->
            %% The handler cannot decide: failed_action (deny) answers.
            ?assertEqual({error, not_authorized}, login(<<"alice">>, <<"wonderland">>)),
            ?assert(failed('client.authenticate') >= 1);
        sqlite ->
            %% A write lock leaves readers alone: logins are still decided.
            ?assertMatch({ok, _}, login(<<"alice">>, <<"wonderland">>)),
            ?assertEqual(0, failed('client.authenticate'))
    end,
    %% ACL answers from memory meanwhile.
    ?assertEqual(deny, acl(<<"alice">>, <<"c">>, publish, <<"t">>)),
    %% Writes wait in the handler's queue.
    [{routed, _} = exhook_broker:publish(message(<<"p/", (integer_to_binary(I))/binary>>, <<"x">>))
     || I <- lists:seq(1, 5)],
    notify(connected(<<"during">>, ?T1, 1)),
    timer:sleep(700),
    ?assertEqual([["0"]], rows_when_up(Config, "SELECT COUNT(*) FROM mqtt_messages")),
    End(),
    %% Back without a restart: the queued writes land, logins are decided.
    await_rows(Config, "SELECT COUNT(*) FROM mqtt_messages", [["5"]]),
    await_rows(Config, "SELECT clientid FROM mqtt_clients", [["during"]]),
    ?assertEqual(ok, wait_for(fun() -> element(1, login(<<"alice">>, <<"wonderland">>)) =:= ok end)).

%% During an SQLite write lock the table can still be read; a stopped
%% PostgreSQL server cannot be asked at all: then nothing was written.
rows_when_up(Config, Sql) ->
    case ?config(backend, Config) of
        sqlite -> rows(Config, Sql);
        postgres -> [["0"]]
    end.

full_buffer_drops_while_unavailable(Config) ->
    exhook_log_capture:install(),
    start(Config, [{write_queue, "5"}, {db_timeout, "300ms"}]),
    ?assertMatch({routed, _}, exhook_broker:publish(message(<<"p/first">>, <<"x">>))),
    await_rows(Config, "SELECT COUNT(*) FROM mqtt_messages", [["1"]]),
    End = begin_outage(Config),
    [{routed, _} = exhook_broker:publish(message(<<"p/", (integer_to_binary(I))/binary>>, <<"x">>))
     || I <- lists:seq(1, 12)],
    timer:sleep(500),
    End(),
    %% The first 5 waited and were written; the other 7 were dropped
    %% (counted in the handler's WriteStats), never written later.
    await_rows(Config, "SELECT topic FROM mqtt_messages ORDER BY id",
               [["p/first"], ["p/1"], ["p/2"], ["p/3"], ["p/4"], ["p/5"]]),
    timer:sleep(500),
    ?assertEqual([["6"]], rows(Config, "SELECT COUNT(*) FROM mqtt_messages")),
    %% Stopping reports what was written and dropped.
    exhook_test_plugin:stop(),
    logged("6 records written, 7 dropped (7 queue full, 0 refused, 0 at stop)").

%% Waits until the handlers' log has a line holding `Text'.
logged(Text) ->
    exhook_log_capture:await(fun(Events) -> logged_lines(Text, Events) =/= [] end, Text).

logged_lines(Text, Events) ->
    [T || {_Level, T, _} <- Events, string:find(T, Text) =/= nomatch].

%% Disabling the driver runs deinit: what is queued is written (batches
%% would otherwise wait an hour here), the handler's threads stop and its
%% connections close off the broker's threads, so no thread-local pins the
%% library and the VM unmaps it.
disable_flushes_and_unloads_the_library(Config) ->
    start(Config, [{batch_interval, "1h"}]),
    add_user(Config, "alice", "wonderland", []),
    ?assertMatch({ok, _}, login(<<"alice">>, <<"wonderland">>)),
    ?assertEqual(deny, acl(<<"alice">>, <<"c">>, publish, <<"t">>)),
    notify(connected(<<"subA">>, ?T1, 33870)),
    {routed, _} = exhook_broker:publish(exhook_samples:message()),
    timer:sleep(200),
    ?assertEqual([["0"]], rows(Config, "SELECT COUNT(*) FROM mqtt_messages")),
    ok = emqx_extension_hook:disable(db),
    exhook_test_plugin:sync_hooks(),
    ?assertEqual([["1"]], rows(Config, "SELECT COUNT(*) FROM mqtt_messages")),
    ?assertEqual([["subA", "1"]],
                 rows(Config, "SELECT clientid, CAST(online AS INTEGER) FROM mqtt_clients")),
    case flavour(Config) of
        rust ->
            ?assert(exhook_test_plugin:library_released(emqx_example_database)),
            ?assertEqual([], exhook_test_plugin:await_mapped_library_copies(0));
        python ->
            %% The interpreter stays (it is never finalised); that the
            %% module's threads end in deinit, pytest checks.
            ok
    end.

%% An SQLite file that cannot be opened (its directory is a file, which
%% stops root too): logins and ACL checks get failed_action, the outage is
%% logged once however many calls fail (once by each handler process with
%% transport = port), writes wait in the queue; once the
%% file can be opened (the directory with the users appears) the handler
%% decides again and writes what waited, with no restart.
unopenable_database_gets_the_policy_until_it_opens(Config) ->
    [{database, File}] = ?config(store, Config),
    add_user(Config, "alice", "wonderland", []),
    CaseDir = filename:dirname(filename:dirname(File)),
    Blocked = filename:join(CaseDir, "blocked"),
    ok = file:write_file(Blocked, <<"a file where a directory should be">>),
    BlockedFile = filename:join(Blocked, filename:basename(File)),
    exhook_log_capture:install(),
    start(Config, [{database, BlockedFile}, {error_log_interval, "1h"}]),
    [?assertEqual({error, not_authorized}, login(<<"alice">>, <<"wonderland">>))
     || _ <- lists:seq(1, 5)],
    ?assertEqual(5, failed('client.authenticate')),
    ?assertEqual(deny, acl(<<"alice">>, <<"c">>, publish, <<"users/alice/1">>, allow)),
    ?assert(failed('client.check_acl') >= 1),
    {routed, _} = exhook_broker:publish(message(<<"p/while-down">>, <<"x">>)),
    %% Handlers log through a queue: the line comes a moment later.
    logged(" unavailable: "),
    ok = file:delete(Blocked),
    ok = file:rename(filename:dirname(File), Blocked),
    ?assertEqual(ok, wait_for(fun() -> element(1, login(<<"alice">>, <<"wonderland">>)) =:= ok end)),
    Store = [{store, [{database, BlockedFile}]}],
    ?assertEqual(ok, wait_for(fun() -> rows(Store, "SELECT topic FROM mqtt_messages")
                                            =:= [["p/while-down"]] end)),
    logged("available again"),
    Reporters = case proplists:get_value(transport, Config, nif) of
                    nif -> 1;
                    port -> ?PORT_PROCESSES
                end,
    ?assertEqual(Reporters, length(logged_lines(" unavailable: ", exhook_log_capture:events()))).

%% Python version only: a user the Python command adds logs in through
%% the Python handler and through the Rust one (logins_allowed_and_denied
%% has the Rust command's users log in through the Python handler).
users_added_by_either_command_log_in_through_either(Config) ->
    py_exhook_db(Config, ["add-user", "carol", "--memory-kib", "64", "--iterations", "1"],
                 "through the looking glass\n"),
    py_exhook_db(Config, ["add-user", "admin", "--superuser", "--memory-kib", "64",
                          "--iterations", "1"], "s3cret\n"),
    start(Config, []),
    Python = [login(<<"carol">>, <<"through the looking glass">>), login(<<"admin">>, <<"s3cret">>),
              login(<<"carol">>, <<"through the looking glass!">>)],
    exhook_test_plugin:start([driver(db, lists:keydelete(flavour, 1, Config), [{node, "emqx@a"}])]),
    Rust = [login(<<"carol">>, <<"through the looking glass">>), login(<<"admin">>, <<"s3cret">>),
            login(<<"carol">>, <<"through the looking glass!">>)],
    [?assertMatch([{ok, #{is_superuser := false}}, {ok, #{is_superuser := true}},
                   {error, not_authorized}], Logins) || Logins <- [Python, Rust]].

%% Two brokers on one PostgreSQL database: this VM (node emqx@a) and a
%% peer VM (emqx@b), each with the plugin and the example library. A peer
%% node, not two drivers in one VM: a library binds one Erlang module, so
%% one VM cannot load the same handler twice; and two VMs are what two
%% brokers are.
two_broker_nodes_share_one_postgres(Config) ->
    start(Config, []),
    Paths = lists:append([["-pa", P] || P <- code:get_path()]),
    {ok, Peer, _Node} = peer:start_link(#{connection => standard_io, args => Paths}),
    try
        ok = peer:call(Peer, ?MODULE, peer_start,
                       [[driver(db, Config, [{node, "emqx@b"}])]], 30000),
        add_user(Config, "alice", "wonderland", []),
        add_rule(Config, ["allow", "all", "publish", "users/%u/#"]),
        OnB = fun(F, A) -> peer:call(Peer, ?MODULE, F, A, 30000) end,
        ?assertMatch({ok, _}, login(<<"alice">>, <<"wonderland">>)),
        ?assertMatch({ok, _}, OnB(login, [<<"alice">>, <<"wonderland">>])),
        ?assertEqual(ok, wait_for(fun() ->
                                          OnB(acl, [<<"alice">>, <<"c">>, publish, <<"users/alice/1">>])
                                              =:= allow
                                  end)),
        %% subA moves from a to b; a's disconnect lands last.
        notify(connected(<<"subA">>, ?T1, 33870)),
        await_rows(Config, "SELECT node FROM mqtt_clients", [["emqx@a"]]),
        ok = OnB(notify, [connected(<<"subA">>, ?T1 + 1000, 40000)]),
        await_rows(Config, "SELECT node FROM mqtt_clients", [["emqx@b"]]),
        notify(disconnected(<<"subA">>, ?T1, 33870, takeovered, ?T1 + 1001)),
        await_rows(Config, "SELECT event, node FROM mqtt_client_history ORDER BY id",
                   [["connected", "emqx@a"], ["connected", "emqx@b"],
                    ["disconnected", "emqx@a"]]),
        ?assertEqual([["emqx@b", "1", "127.0.0.1:40000"]],
                     rows(Config, "SELECT node, CAST(online AS INTEGER), peer FROM mqtt_clients"))
    after
        catch peer:call(Peer, ?MODULE, peer_stop, [], 30000),
        peer:stop(Peer)
    end.

%% On the peer: the broker stand-in and the plugin, kept by a process of
%% their own (peer:call's process does not last).
peer_start(Drivers) ->
    Caller = self(),
    spawn(fun() ->
                  ok = exhook_broker:start(),
                  ok = exhook_test_plugin:start(Drivers),
                  register(exhook_peer_holder, self()),
                  Caller ! started,
                  receive stop -> ok end
          end),
    receive started -> ok after 30000 -> error(peer_start_timeout) end.

peer_stop() ->
    exhook_test_plugin:stop(),
    exhook_peer_holder ! stop,
    ok.
