%% @doc Logins per second through the Python database example
%% (native/python/examples/database) on SQLite, as the broker calls them:
%% the `client.authenticate' callback the plugin registered for the
%% python3 driver, from 1 and 64 concurrent callers (each its own client),
%% back to back. The baseline, measured in the same run on the same file
%% and users: the Rust database example through the plugin. Two users, one
%% hashed at the cost for device secrets (Argon2id 1 MiB, 1 pass), one at
%% the default cost (19 MiB, 2 passes): the hash is most of a login. Every
%% answer is checked: a login that is not allowed (the failure policy
%% answered it, call_timeout passed on a busy machine) is counted apart.
%% Run with `make bench-python-database'.
-module(exhook_pydb_bench).

-export([main/1]).

-define(CALLERS, [1, 64]).
-define(PASSWORD, <<"bench-password">>).

%% @doc `[Root, Seconds]': the repository root and seconds per measurement.
-spec main([string()]) -> no_return().
main(Args) ->
    Code = try bench(Args), 0
           catch Class:Reason:Stack ->
                   io:format(standard_error, "bench failed: ~p:~p~n~p~n", [Class, Reason, Stack]),
                   1
           end,
    erlang:halt(Code).

bench([Root, Seconds]) ->
    Ms = round(list_to_float(Seconds) * 1000),
    Dir = filename:join([Root, "_build", "bench-pydb"]),
    Db = filename:join(Dir, "exhook.sqlite3"),
    _ = [file:delete(F) || F <- filelib:wildcard(Db ++ "*")],
    ok = filelib:ensure_dir(Db),
    Venv = filename:join([Root, "_build", "pyvenv"]),
    Users = [{<<"device">>, "Argon2id 1 MiB, 1 pass", ["--memory-kib", "1024", "--iterations", "1"]},
             {<<"human">>, "Argon2id 19 MiB, 2 passes (default)", []}],
    [add_user(Root, Venv, Db, User, Cost) || {User, _, Cost} <- Users],
    {ok, Samples} = file:consult(filename:join([Root, "native", "emqx-extension-sdk", "samples",
                                                "emqx-4.4.19-hook-samples.txt"])),
    {_, [ClientInfo, Acc]} = lists:keyfind('client.authenticate', 1, Samples),
    ok = logger:set_primary_config(level, error),
    ok = application:load(emqx_extension_hook),
    Drivers = [{"Rust example (baseline)", rdb,
                [{path, filename:join([Root, "target", "release", "libemqx_example_database.so"])},
                 {database, Db}]},
               {"Python example", pydb,
                [{kind, python3}, {path, filename:join([Root, "native", "python", "examples", "database"])},
                 {init_module, "hooks"}, {venv, Venv}, {handler, [{database, Db}]}]}],
    ok = application:set_env(emqx_extension_hook, drivers, [{Name, Opts} || {_, Name, Opts} <- Drivers]),
    {ok, _} = application:ensure_all_started(emqx_extension_hook),
    io:format("client.authenticate through the plugin's callback, SQLite (~ts), ~b ms per "
              "measurement, pool_size 8, ~b cores, OTP ~s~n~n",
              [Db, Ms, erlang:system_info(logical_processors_available), erlang:system_info(otp_release)]),
    Rows = [begin
                {ok, Callbacks} = emqx_extension_hook:callbacks(Name),
                {_, {M, F, X}} = lists:keyfind('client.authenticate', 1, Callbacks),
                Login = fun(I) ->
                                CI = ClientInfo#{clientid => <<"bench-", (integer_to_binary(I))/binary>>,
                                                 username => User, password => ?PASSWORD},
                                apply(M, F, [CI, Acc | X])
                        end,
                %% Warm-up: connections opened, the interpreter's workers attached.
                {_, _, 0} = run(Login, 2, min(Ms, 500)),
                {Label, CostText, N, run(Login, N, Ms)}
            end || {User, CostText, _} <- Users, N <- ?CALLERS, {Label, Name, _} <- Drivers],
    _ = application:stop(emqx_extension_hook),
    report(Rows).

add_user(Root, Venv, Db, User, Cost) ->
    Cmd = io_lib:format("cd ~ts && printf '%s\\n' '~ts' | PYTHONDONTWRITEBYTECODE=1 ~ts/bin/python "
                        "-m exhook_db --database ~ts add-user ~ts ~ts 2>&1; echo \"exit=$?\"",
                        [filename:join([Root, "native", "python", "examples", "database"]),
                         ?PASSWORD, Venv, Db, User, lists:join(" ", Cost)]),
    Out = os:cmd(lists:flatten(Cmd)),
    case string:find(Out, "exit=0") of
        nomatch -> error({add_user_failed, User, Out});
        _ -> ok
    end.

%% `N' callers back to back for `Ms'; logins allowed per second, their
%% latencies (µs), and how many were not allowed.
run(Login, N, Ms) ->
    Self = self(),
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    Pids = [spawn_link(fun() -> Self ! {self(), caller(Login, I, Deadline, [], 0)} end)
            || I <- lists:seq(1, N)],
    Results = [receive {P, R} -> R end || P <- Pids],
    Lat = lists:append([L || {L, _} <- Results]),
    {length(Lat) * 1000 / Ms, lists:sort(Lat), lists:sum([R || {_, R} <- Results])}.

caller(Login, I, Deadline, Lat, Refused) ->
    case erlang:monotonic_time(millisecond) < Deadline of
        false -> {Lat, Refused};
        true ->
            T0 = erlang:monotonic_time(nanosecond),
            case Login(I) of
                {stop, #{auth_result := success}} ->
                    T = (erlang:monotonic_time(nanosecond) - T0) / 1000,
                    caller(Login, I, Deadline, [T | Lat], Refused);
                _NotAllowed ->
                    caller(Login, I, Deadline, Lat, Refused + 1)
            end
    end.

percentile([], _P) -> 0.0;
percentile(Sorted, P) -> lists:nth(max(1, round(P * length(Sorted))), Sorted).

report(Rows) ->
    io:format("| handler | user's hash | callers | logins/s | p50 ms | p99 ms | vs baseline logins/s "
              "| not allowed |~n"
              "|---|---|---:|---:|---:|---:|---:|---:|~n"),
    Base = maps:from_list([{{C, N}, R} || {"Rust" ++ _, C, N, {R, _, _}} <- Rows]),
    [io:format("| ~s | ~ts | ~b | ~.1f | ~.2f | ~.2f | x~.2f | ~b |~n",
               [Label, Cost, N, Rate, percentile(L, 0.5) / 1000, percentile(L, 0.99) / 1000,
                Rate / max(maps:get({Cost, N}, Base), 1.0e-9), Refused])
     || {Label, Cost, N, {Rate, L, Refused}} <- Rows],
    ok.
