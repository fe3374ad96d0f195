%% The drivers in EMQX 4.4's HTTP management API: every endpoint called
%% as EMQX's router calls it (exhook_rest_router: routes from the
%% `rest_api' attributes, bindings, params, the reply as JSON), against the
%% plugin running on the broker stand-in; the replies read back as a
%% client reads them. The answers are those of `emqx_ctl exhook drivers
%% ...', and nothing that can hold a secret comes out as it is.
-module(emqx_extension_hook_api_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(APP, emqx_extension_hook).
-define(API, emqx_extension_hook_api).
-define(DRIVER_KEYS, [<<"enabled">>, <<"error">>, <<"handler">>, <<"hooks">>, <<"kind">>,
                      <<"name">>, <<"optional">>, <<"path">>, <<"transport">>]).
-define(STATS_KEYS, [<<"handler">>, <<"hooks">>, <<"log_dropped">>, <<"name">>, <<"queue_depth">>,
                     <<"restarts">>, <<"transport">>]).
%% What `emqx_ctl exhook drivers stats' prints for each hook.
-define(HOOK_STATS_KEYS, [<<"calls">>, <<"dropped">>, <<"failed">>, <<"hook">>, <<"overran">>,
                          <<"p50_us">>, <<"p99_us">>, <<"queued">>, <<"saturated">>, <<"succeeded">>,
                          <<"timed_out">>]).

all() ->
    [{group, routes}, {group, json}, {group, redaction}, {group, endpoints}].

groups() ->
    [{routes, [], [every_rest_api_attribute_is_well_formed,
                   malformed_attributes_are_refused,
                   router_binds_and_passes_params_as_emqx_does,
                   routes_answer_only_while_the_plugin_runs]},
     {json, [], [encoder_refuses_what_emqx_cannot_encode,
                 encoded_json_reads_back_as_written]},
     {redaction, [], [urls_lose_their_passwords_and_query_values,
                      handler_settings_show_only_urls,
                      text_hides_urls_and_secret_pairs]},
     {endpoints, [], [list_gives_every_driver_in_config_order,
                      show_gives_one_driver_as_the_list_does,
                      unknown_driver_is_404_on_every_endpoint,
                      stats_give_what_the_cli_prints,
                      stats_give_the_handlers_own_counters,
                      stats_of_a_disabled_driver_say_so,
                      enable_and_disable_switch_the_driver,
                      failing_enable_gives_the_reason_in_words,
                      reload_keeps_the_driver_answering,
                      no_secret_in_any_reply]}].

init_per_suite(Config) ->
    ok = exhook_broker:start(),
    exhook_test_plugin:set_transport(nif),
    Config.

end_per_suite(_Config) ->
    exhook_test_plugin:stop(),
    exhook_broker:stop().

end_per_testcase(_Case, _Config) ->
    exhook_test_plugin:stop().

%%--------------------------------------------------------------------
%% Helpers

%% A request as a client sends it: `{Status, JSON read back}'.
api(Method, Path) ->
    {Status, Body} = raw(Method, Path),
    ct:log("~s ~s -> ~b ~ts", [Method, Path, Status, Body]),
    {Status, exhook_json:decode(Body)}.

raw(Method, Path) ->
    exhook_rest_router:request(method(Method), "/api/v4" ++ Path, ?APP).

method(get) -> 'GET';
method(put) -> 'PUT';
method(post) -> 'POST'.

%% A successful reply's data.
data(Method, Path) ->
    {200, #{<<"code">> := 0, <<"data">> := Data} = Reply} = api(Method, Path),
    ?assertEqual([<<"code">>, <<"data">>], lists:sort(maps:keys(Reply))),
    Data.

%% A refused or failed request: EMQX's `{code, message}' with status 200.
failure(Method, Path) ->
    {200, #{<<"code">> := Code, <<"message">> := Message} = Reply} = api(Method, Path),
    ?assertEqual([<<"code">>, <<"message">>], lists:sort(maps:keys(Reply))),
    {Code, Message}.

custom_lib() -> exhook_samples:library(emqx_example_custom_hook).
gate_lib() -> exhook_samples:library(emqx_example_gatekeeper).
authenticate_sample() -> hd(exhook_samples:args('client.authenticate')).

%% Anonymous logins off: only a driver's decision lets the client in.
login() -> exhook_broker:authenticate(authenticate_sample(), false).

copy_file(From, To) ->
    {ok, _} = file:copy(From, To),
    To.

assert_driver_shape(D) ->
    ?assertEqual(?DRIVER_KEYS, lists:sort(maps:keys(D)), D),
    #{<<"name">> := Name, <<"enabled">> := Enabled, <<"hooks">> := Hooks,
      <<"handler">> := Handler} = D,
    ?assert(is_binary(Name)),
    ?assert(is_boolean(Enabled)),
    [?assert(is_binary(V) orelse V =:= null, {K, V})
     || K <- [<<"kind">>, <<"transport">>, <<"path">>, <<"error">>], V <- [maps:get(K, D)]],
    ?assert(is_boolean(maps:get(<<"optional">>, D)) orelse maps:get(<<"optional">>, D) =:= null),
    [?assertMatch(#{<<"hook">> := H, <<"mode">> := M} when is_binary(H) andalso is_binary(M)
                                                           andalso map_size(Hook) =:= 2, Hook)
     || Hook <- Hooks],
    [?assert(is_binary(V)) || V <- maps:values(Handler)],
    D.

hook_modes(#{<<"hooks">> := Hooks}) ->
    [{H, M} || #{<<"hook">> := H, <<"mode">> := M} <- Hooks].

%% The counters of `Hook' once `Done' holds for them (notifications and
%% pool calls are counted by the worker, just after the caller is answered).
settled(Driver, Hook, Done) ->
    exhook_test_plugin:await_stats(Driver, Hook, Done).

%%--------------------------------------------------------------------
%% Routes

every_rest_api_attribute_is_well_formed(_Config) ->
    Routes = exhook_rest_router:routes(?APP),
    ?assertEqual([], exhook_rest_router:check(Routes)),
    ?assertEqual(lists:sort([{'GET', "/exhook/drivers", list_drivers},
                             {'GET', "/exhook/drivers/:bin:name", show_driver},
                             {'GET', "/exhook/drivers/:bin:name/stats", driver_stats},
                             {'PUT', "/exhook/drivers/:bin:name/enable", enable_driver},
                             {'PUT', "/exhook/drivers/:bin:name/disable", disable_driver},
                             {'PUT', "/exhook/drivers/:bin:name/reload", reload_driver}]),
                 lists:sort([{Method, Path, Func}
                             || {?API, #{method := Method, path := Path, func := Func}} <- Routes])),
    %% Route names are global in EMQX's management API: ours carry the
    %% plugin's prefix.
    [?assertMatch("exhook_" ++ _, atom_to_list(Name)) || {_, #{name := Name}} <- Routes].

malformed_attributes_are_refused(_Config) ->
    Good = #{name => exhook_x, method => 'GET', path => "/exhook/x/:bin:name", func => show_driver,
             descr => "A route"},
    ?assertEqual([], exhook_rest_router:check([{?API, Good}])),
    Broken = [{maps:remove(descr, Good), {missing, descr}},
              {(maps:remove(descr, Good))#{desc => "typo"}, [{missing, descr}, {unknown_key, desc}]},
              {Good#{name => "exhook_x"}, {name, "exhook_x"}},
              {Good#{method => get}, {method, get}},
              {Good#{method => 'PATCH'}, {method, 'PATCH'}},
              {Good#{path => "exhook/x"}, {path, "exhook/x"}},
              {Good#{path => <<"/exhook/x">>}, {path, <<"/exhook/x">>}},
              {Good#{path => "/exhook/:str:name"}, {segment, ":str:name"}},
              {Good#{path => "/exhook/:bin:Name"}, {segment, ":bin:Name"}},
              {Good#{path => "/exhook/:bin:a/:int:a"}, {duplicate_binding, "a"}},
              {Good#{func => no_such_function}, {not_exported, {?API, no_such_function, 2}}},
              {Good#{func => module_info}, {not_exported, {?API, module_info, 2}}},
              {Good#{descr => <<"A route">>}, {descr, <<"A route">>}},
              {not_a_map, not_a_map}],
    [?assertEqual([{?API, name_of(Attr), P} || P <- lists:flatten([Problems])],
                  exhook_rest_router:check([{?API, Attr}]), Attr)
     || {Attr, Problems} <- Broken],
    %% Two routes of one name, or of one method and path shape.
    ?assertEqual([{any, exhook_x, duplicate_name}],
                 exhook_rest_router:check([{?API, Good}, {?API, Good#{path => "/exhook/y"}}])),
    ?assertEqual([{any, {'GET', ["exhook", "x", bin]}, duplicate_route}],
                 exhook_rest_router:check([{?API, Good},
                                           {?API, Good#{name => exhook_y,
                                                        path => "/exhook/x/:bin:other"}}])).

name_of(#{name := Name}) -> Name;
name_of(_) -> unnamed.

%% The stand-in itself, on a route with every binding type.
router_binds_and_passes_params_as_emqx_does(_Config) ->
    Routes = exhook_rest_router:modules_routes([exhook_rest_echo]),
    {200, Body} = exhook_rest_router:serve('POST', "/api/v4/echo/42/ok/x-1?q=1&r=two",
                                           <<"{\"k\": \"v\", \"n\": [1, 2]}">>, Routes),
    #{<<"n">> := 42, <<"a">> := <<"ok">>, <<"b">> := <<"x-1">>, <<"params">> := Params} =
        exhook_json:decode(Body),
    ?assertEqual(lists:sort([{<<"q">>, <<"1">>}, {<<"r">>, <<"two">>}, {<<"k">>, <<"v">>},
                             {<<"n">>, [1, 2]}]),
                 lists:sort([{K, V} || #{<<"key">> := K, <<"value">> := V} <- Params])),
    %% A segment that is no integer, a name no atom has yet, another
    %% method, a path without the prefix: no route.
    [?assertEqual({404, <<"Not Found">>}, exhook_rest_router:serve(Method, Url, <<>>, Routes))
     || {Method, Url} <- [{'POST', "/api/v4/echo/x/ok/b"}, {'POST', "/api/v4/echo/1/no_such_atom_4e1f/b"},
                          {'GET', "/api/v4/echo/1/ok/b"}, {'POST', "/echo/1/ok/b"},
                          {'POST', "/api/v4/echo/1/ok"}]],
    %% and the router made no atom of it.
    ?assertError(badarg, binary_to_existing_atom(<<"no_such_atom_4e1f">>, utf8)).

routes_answer_only_while_the_plugin_runs(_Config) ->
    exhook_test_plugin:start([{custom, [{path, custom_lib()}]}]),
    ?assertMatch([_], data(get, "/exhook/drivers")),
    %% No route: EMQX's own 404, not JSON.
    ?assertEqual({404, <<"Not Found">>}, raw(get, "/exhook/drivers/custom/explode")),
    ?assertEqual({404, <<"Not Found">>}, raw(post, "/exhook/drivers/custom/enable")),
    exhook_test_plugin:stop(),
    ?assertEqual({404, <<"Not Found">>}, raw(get, "/exhook/drivers")).

%%--------------------------------------------------------------------
%% The test's JSON encoder

encoder_refuses_what_emqx_cannot_encode(_Config) ->
    [?assertError(_, exhook_json:encode(T), T)
     || T <- [{a, b}, undefined, ok, self(), make_ref(), [1 | 2], <<255>>, #{{k} => 1},
              #{a => 1, <<"a">> => 2}, #{true => 1}, [#{a => undefined}]]].

encoded_json_reads_back_as_written(_Config) ->
    Term = #{code => 0, data => [#{<<"name">> => <<"caf\x{e9} \"q\" \\ \n\t\x{1}"/utf8>>,
                                   n => -12, f => 1.5, z => 0.0, big => 1.0e-7,
                                   t => true, b => false, x => null, l => [], m => #{}}]},
    Json = exhook_json:encode(Term),
    ?assertEqual(#{<<"code">> => 0,
                   <<"data">> => [#{<<"name">> => <<"caf\x{e9} \"q\" \\ \n\t\x{1}"/utf8>>,
                                    <<"n">> => -12, <<"f">> => 1.5, <<"z">> => 0.0,
                                    <<"big">> => 1.0e-7, <<"t">> => true, <<"b">> => false,
                                    <<"x">> => null, <<"l">> => [], <<"m">> => #{}}]},
                 exhook_json:decode(Json)).

%%--------------------------------------------------------------------
%% What may be shown

urls_lose_their_passwords_and_query_values(_Config) ->
    Cases = [{"postgres://app:s3cret@db.example:5432/app", <<"postgres://app:******@db.example:5432/app">>},
             {"postgres://app@db.example/app", <<"postgres://app@db.example/app">>},
             {"http://db:5432/app", <<"http://db:5432/app">>},
             {"redis://:s3cret@cache:6379/0", <<"redis://:******@cache:6379/0">>},
             {"https://h/x?user=a&password=s3cret#frag", <<"https://h/x?user=******&password=******">>},
             %% Characters its owner did not percent-encode stay in the hidden part.
             {"postgres://u:s3@cret@h/db", <<"postgres://u:******@h/db">>},
             {"postgres://u:s3/cret@h/db", <<"postgres://u:******@h/db">>},
             {"postgres://u:s3?cret@h/db", <<"postgres://u:******?******">>},
             {"postgres://u:s3#cret@h/db", <<"postgres://u:******">>},
             {"http://[::1]:8080/x", <<"http://[::1]:8080/x">>}],
    [?assertEqual(Expected, emqx_extension_hook_redact:url(Url), Url) || {Url, Expected} <- Cases].

handler_settings_show_only_urls(_Config) ->
    ?assertEqual(<<"mysql://app:******@db/app">>, emqx_extension_hook_redact:setting("mysql://app:pw@db/app")),
    [?assertEqual(<<"******">>, emqx_extension_hook_redact:setting(V))
     || V <- ["hunter2", "1234", "", "host=db user=app password=pw", " postgres://a:pw@db"]].

text_hides_urls_and_secret_pairs(_Config) ->
    ?assertEqual(<<"cannot connect to postgres://app:******@db/app: refused; password=****** "
                   "api_token: ******, {\"url\",\"mysql://u:******@h\"} port=5432">>,
                 emqx_extension_hook_redact:text(
                   "cannot connect to postgres://app:pw1@db/app: refused; password=pw2 "
                   "api_token: pw3, {\"url\",\"mysql://u:pw4@h\"} port=5432")).

%%--------------------------------------------------------------------
%% Endpoints

list_gives_every_driver_in_config_order(_Config) ->
    exhook_test_plugin:start(
      [{custom, [{path, custom_lib()}, {mode, inline}, {modes, [{client_check_acl, dirty_io}]}]},
       {sandboxed, [{path, custom_lib()}, {transport, port}, {pool_size, 1}]},
       {x, [{path, "data/nope.so"}, {optional, true}]}]),
    [Custom, Sandboxed, X] = [assert_driver_shape(D) || D <- data(get, "/exhook/drivers")],
    Path = list_to_binary(custom_lib()),
    ?assertMatch(#{<<"name">> := <<"custom">>, <<"enabled">> := true, <<"kind">> := <<"native">>,
                   <<"transport">> := <<"nif">>, <<"optional">> := false, <<"path">> := Path,
                   <<"handler">> := #{}, <<"error">> := null}, Custom),
    %% The hooks the handler implements, each where it runs.
    ?assertEqual([{<<"client.connect">>, <<"inline">>}, {<<"client.connected">>, <<"queued">>},
                  {<<"client.authenticate">>, <<"inline">>}, {<<"client.check_acl">>, <<"dirty_io">>},
                  {<<"message.publish">>, <<"inline">>}],
                 hook_modes(Custom)),
    %% The Port transport ignores modes: every call is a round trip.
    ?assertMatch(#{<<"name">> := <<"sandboxed">>, <<"enabled">> := true, <<"transport">> := <<"port">>},
                 Sandboxed),
    ?assertEqual([{<<"client.connect">>, <<"round_trip">>}, {<<"client.connected">>, <<"queued">>},
                  {<<"client.authenticate">>, <<"round_trip">>},
                  {<<"client.check_acl">>, <<"round_trip">>}, {<<"message.publish">>, <<"round_trip">>}],
                 hook_modes(Sandboxed)),
    %% The driver that failed to load: disabled, with the reason the CLI prints.
    ?assertMatch(#{<<"name">> := <<"x">>, <<"enabled">> := false, <<"hooks">> := [],
                   <<"path">> := <<"data/nope.so">>,
                   <<"error">> := <<"data/nope.so: no such file (exhook.drivers.x.path)">>}, X),
    Cli = emqx_ctl:run(["exhook", "drivers", "list"]),
    ?assertNotEqual(nomatch, string:find(Cli, "Driver(x, disabled, path=data/nope.so, hooks=[])\n"
                                              "  error: " ++ binary_to_list(maps:get(<<"error">>, X)))),
    %% The same drivers, states and hooks as the plugin's own list.
    ?assertEqual([{N, E, [atom_to_binary(H, utf8) || H <- Hs]}
                  || #{name := N, enabled := E, hooks := Hs} <- emqx_extension_hook:list()],
                 [{N, E, [H || {H, _} <- hook_modes(D)]}
                  || D = #{<<"name">> := N, <<"enabled">> := E} <- [Custom, Sandboxed, X]]).

show_gives_one_driver_as_the_list_does(_Config) ->
    exhook_test_plugin:start([{custom, [{path, custom_lib()}]},
                              {gate, [{path, gate_lib()}, {failed_action, ignore}]}]),
    List = data(get, "/exhook/drivers"),
    ?assertEqual(List, [assert_driver_shape(data(get, "/exhook/drivers/" ++ N)) || N <- ["custom", "gate"]]).

unknown_driver_is_404_on_every_endpoint(_Config) ->
    exhook_test_plugin:start([{custom, [{path, custom_lib()}]}]),
    Endpoints = [{get, ""}, {get, "/stats"}, {put, "/enable"}, {put, "/disable"}, {put, "/reload"}],
    [?assertEqual({404, #{<<"code">> => 404,
                          <<"message">> => <<"driver nosuch is not configured "
                                             "(no exhook.drivers.nosuch.* keys)">>}},
                  api(Method, "/exhook/drivers/nosuch" ++ Suffix))
     || {Method, Suffix} <- Endpoints],
    %% A name no driver can have is not quoted back.
    [?assertMatch({404, #{<<"code">> := 404, <<"message">> := <<"no such driver", _/binary>>}},
                  api(Method, "/exhook/drivers/%3Cb%3E" ++ Suffix))
     || {Method, Suffix} <- Endpoints],
    %% Nothing was enabled or disabled.
    ?assertMatch([#{name := <<"custom">>, enabled := true}], emqx_extension_hook:list()).

stats_give_what_the_cli_prints(_Config) ->
    %% sandboxed (the gatekeeper, in a process of its own) has no opinion
    %% on user good and passes each login on to custom, which allows it.
    exhook_test_plugin:start([{sandboxed, [{path, gate_lib()}, {transport, port}, {pool_size, 1}]},
                              {custom, [{path, custom_lib()}]}]),
    Good = (authenticate_sample())#{username => <<"good">>},
    [{ok, _} = exhook_broker:authenticate(Good, false) || _ <- lists:seq(1, 5)],
    %% Pool calls and Port calls are counted once their replies are in.
    [settled(D, 'client.authenticate', fun(#{succeeded := S}) -> S =:= 5 end)
     || D <- [custom, sandboxed]],
    Custom = data(get, "/exhook/drivers/custom/stats"),
    Sandboxed = data(get, "/exhook/drivers/sandboxed/stats"),
    Cli = emqx_ctl:run(["exhook", "drivers", "stats"]),
    ct:log("~ts", [Cli]),
    [begin
         ?assertEqual(?STATS_KEYS, lists:sort(maps:keys(S))),
         [?assertEqual(?HOOK_STATS_KEYS, lists:sort(maps:keys(H))) || H <- maps:get(<<"hooks">>, S)],
         assert_same_stats(cli_stats(Cli, maps:get(<<"name">>, S)), api_stats(S))
     end || S <- [Custom, Sandboxed]],
    ?assertMatch(#{<<"name">> := <<"custom">>, <<"transport">> := <<"nif">>, <<"queue_depth">> := 0,
                   <<"restarts">> := 0, <<"log_dropped">> := 0}, Custom),
    ?assertMatch(#{<<"transport">> := <<"port">>, <<"restarts">> := 0}, Sandboxed),
    [begin
         [Auth] = [H || H = #{<<"hook">> := <<"client.authenticate">>} <- maps:get(<<"hooks">>, S)],
         ?assertMatch(#{<<"calls">> := 5, <<"succeeded">> := 5, <<"failed">> := 0,
                        <<"timed_out">> := 0}, Auth),
         #{<<"p50_us">> := P50, <<"p99_us">> := P99} = Auth,
         ?assert(P50 > 0 andalso P99 >= P50)
     end || S <- [Custom, Sandboxed]],
    ?assertEqual(#{}, maps:get(<<"handler">>, Custom)).

%% A handler's own counters (the recorder counts the lines it wrote) are
%% in its stats, as in the CLI's `handler:' line.
stats_give_the_handlers_own_counters(Config) ->
    {Rec, _File} = exhook_test_plugin:recorder(Config, []),
    exhook_test_plugin:start([Rec]),
    %% The recorder has no opinion: the broker's default (allow) stands.
    [{ok, _} = exhook_broker:authenticate(authenticate_sample(), true) || _ <- lists:seq(1, 3)],
    settled(rec, 'client.authenticate', fun(#{succeeded := S}) -> S =:= 3 end),
    #{<<"handler">> := #{<<"lines_written">> := Lines}} = data(get, "/exhook/drivers/rec/stats"),
    Cli = emqx_ctl:run(["exhook", "drivers", "stats"]),
    ct:log("~ts", [Cli]),
    {match, [CliLines]} = re:run(Cli, "  handler: lines_written=(\\d+)\n", [{capture, all_but_first, binary}]),
    %% A line per login at least; nothing is written between the two reads.
    ?assert(Lines >= 3),
    ?assertEqual(Lines, binary_to_integer(CliLines)).

%% A driver's numbers in `emqx_ctl exhook drivers stats' output, as
%% `{[Transport | Counters], [[Hook | Counters]]}', latencies as printed
%% (one decimal).
cli_stats(Cli, Name) ->
    {match, [Transport | Header]} =
        re:run(Cli, "Driver\\(" ++ binary_to_list(Name) ++ ", (\\w+), queued=(\\d+), "
                    "restarts=(\\d+), log_dropped=(\\d+)\\)\\n", [{capture, all_but_first, binary}]),
    {match, [Rows]} =
        re:run(Cli, "Driver\\(" ++ binary_to_list(Name) ++ ", .*\\n((?:  .*\\n)*)",
               [{capture, all_but_first, binary}]),
    {[Transport | [binary_to_integer(N) || N <- Header]],
     [[Hook | [binary_to_integer(N) || N <- Ints] ++ [binary_to_float(F) || F <- Floats]]
      || Line <- binary:split(Rows, <<"\n">>, [global, trim]),
         {match, [Hook | Numbers]} <-
             [re:run(Line, "^  (\\S+) +calls=(\\d+) succeeded=(\\d+) failed=(\\d+) "
                           "timed_out=(\\d+) dropped=(\\d+) saturated=(\\d+) overran=(\\d+) "
                           "queued=(\\d+) p50=([0-9.]+)us p99=([0-9.]+)us$",
                     [{capture, all_but_first, binary}])],
         {Ints, Floats} <- [lists:split(8, Numbers)]]}.

%% Counters equal; latencies as the CLI rounds them (one decimal).
assert_same_stats({Header, CliRows}, {Header, ApiRows}) ->
    ?assertEqual(length(CliRows), length(ApiRows)),
    [begin
         {CliInts, CliFloats} = lists:split(9, Cli),
         {ApiInts, ApiFloats} = lists:split(9, Api),
         ?assertEqual(CliInts, ApiInts),
         [?assert(abs(C - A) =< 0.05 + 1.0e-9, {C, A}) || {C, A} <- lists:zip(CliFloats, ApiFloats)]
     end || {Cli, Api} <- lists:zip(CliRows, ApiRows)];
assert_same_stats(Cli, Api) ->
    ct:fail({stats_differ, Cli, Api}).

%% The same numbers from the API's reply.
api_stats(#{<<"transport">> := T, <<"queue_depth">> := Q, <<"restarts">> := R,
            <<"log_dropped">> := L, <<"hooks">> := Hooks}) ->
    {[T, Q, R, L],
     [[H | [maps:get(K, C) || K <- [<<"calls">>, <<"succeeded">>, <<"failed">>, <<"timed_out">>,
                                    <<"dropped">>, <<"saturated">>, <<"overran">>, <<"queued">>]]]
      ++ [maps:get(K, C) || K <- [<<"p50_us">>, <<"p99_us">>]]
      || C = #{<<"hook">> := H} <- Hooks]}.

stats_of_a_disabled_driver_say_so(_Config) ->
    exhook_test_plugin:start([{custom, [{path, custom_lib()}]}]),
    ok = emqx_extension_hook:disable(custom),
    ?assertEqual({400, <<"driver custom is not enabled">>}, failure(get, "/exhook/drivers/custom/stats")).

enable_and_disable_switch_the_driver(_Config) ->
    exhook_test_plugin:start([{custom, [{path, custom_lib()}]}]),
    ?assertMatch({ok, _}, login()),
    Off = assert_driver_shape(data(put, "/exhook/drivers/custom/disable")),
    ?assertMatch(#{<<"enabled">> := false, <<"hooks">> := [], <<"error">> := null}, Off),
    exhook_test_plugin:sync_hooks(),
    ?assertEqual([], exhook_test_plugin:points_with_callbacks()),
    ?assertEqual({error, not_authorized}, login()),
    ?assertEqual({400, <<"driver custom is not enabled">>}, failure(put, "/exhook/drivers/custom/disable")),
    On = assert_driver_shape(data(put, "/exhook/drivers/custom/enable")),
    ?assertMatch(#{<<"enabled">> := true, <<"hooks">> := [_ | _]}, On),
    ?assertMatch({ok, _}, login()),
    ?assertEqual({400, <<"driver custom is already enabled">>},
                 failure(put, "/exhook/drivers/custom/enable")),
    %% The CLI sees what the API did.
    ?assertNotEqual(nomatch, string:find(emqx_ctl:run(["exhook", "drivers", "list"]),
                                         "Driver(custom, enabled")).

failing_enable_gives_the_reason_in_words(Config) ->
    Lib = copy_file(custom_lib(), filename:join(?config(priv_dir, Config), "libgone.so")),
    exhook_test_plugin:start([{x, [{path, Lib}]}]),
    ok = emqx_extension_hook:disable(x),
    ok = file:delete(Lib),
    Reason = list_to_binary(Lib ++ ": no such file (exhook.drivers.x.path)"),
    ?assertEqual({500, Reason}, failure(put, "/exhook/drivers/x/enable")),
    %% As the CLI says it.
    ?assertEqual("Driver x: " ++ binary_to_list(Reason) ++ "\n",
                 emqx_ctl:run(["exhook", "drivers", "enable", "x"])),
    ?assertMatch([#{<<"name">> := <<"x">>, <<"enabled">> := false, <<"error">> := Reason}],
                 data(get, "/exhook/drivers")).

reload_keeps_the_driver_answering(Config) ->
    Lib = copy_file(custom_lib(), filename:join(?config(priv_dir, Config), "libcustom.so")),
    %% failed_action = deny: a login the driver did not answer is refused.
    exhook_test_plugin:start([{custom, [{path, Lib}, {failed_action, deny}]}]),
    Parent = self(),
    Caller = spawn_link(fun() -> log_in_until_stopped(Parent, #{}) end),
    Reloaded = [assert_driver_shape(data(put, "/exhook/drivers/custom/reload")) || _ <- lists:seq(1, 5)],
    Caller ! stop,
    Logins = receive {logins, L} -> L end,
    ct:log("logins during the reloads: ~p", [Logins]),
    ?assertMatch(#{allowed := N} when N > 0, Logins),
    ?assertEqual([allowed], maps:keys(Logins)),
    [?assertMatch(#{<<"enabled">> := true, <<"error">> := null}, D) || D <- Reloaded],
    %% A reload that fails says why; the running instance goes on deciding.
    ok = file:write_file(Lib, <<"not a library">>),
    {500, Message} = failure(put, "/exhook/drivers/custom/reload"),
    ?assertNotEqual(nomatch, binary:match(Message, <<"is not a shared library">>)),
    ?assertMatch({ok, _}, login()),
    ?assertMatch(#{<<"enabled">> := true, <<"error">> := Message},
                 data(get, "/exhook/drivers/custom")).

log_in_until_stopped(Parent, Counts) ->
    receive
        stop -> Parent ! {logins, Counts}
    after 0 ->
        Outcome = case login() of
                      {ok, _} -> allowed;
                      {error, Reason} -> Reason
                  end,
        log_in_until_stopped(Parent, maps:update_with(Outcome, fun(C) -> C + 1 end, 1, Counts))
    end.

no_secret_in_any_reply(Config) ->
    Secrets = [<<"DbPassw0rd">>, <<"QueryPassw0rd">>, <<"ApiKey0123">>, <<"ConfPassw0rd">>,
               <<"InitPassw0rd">>],
    Missing = filename:join(?config(priv_dir, Config), "none"),
    Custom = {custom, [{path, custom_lib()},
                       {handler, [{"database_url", "postgres://app:DbPassw0rd@db.example:5432/app"
                                                   "?sslpassword=QueryPassw0rd"},
                                  {"api_key", "ApiKey0123"}]}]},
    %% The handler's init fails with a message that carries it.
    Rec = {rec, [{path, exhook_samples:library(emqx_test_recorder)},
                 {record_to, Missing ++ "/postgres://app:InitPassw0rd@db.example/app"},
                 {optional, true}]},
    exhook_test_plugin:start([Custom, Rec, {badconf, [{path, custom_lib()}]}]),
    %% A URL pasted into the wrong key while badconf was disabled: the
    %% config error that refuses its enable quotes it.
    ok = emqx_extension_hook:disable(badconf),
    ok = application:set_env(?APP, drivers,
                             [Custom, Rec, {badconf, [{path, custom_lib()},
                                                      {call_timeout, "postgres://app:ConfPassw0rd@db.example/app"}]}]),
    Requests = [{put, "/exhook/drivers/badconf/enable"}, {get, "/exhook/drivers"},
                {get, "/exhook/drivers/custom"}, {get, "/exhook/drivers/badconf"},
                {get, "/exhook/drivers/rec"}, {get, "/exhook/drivers/custom/stats"},
                {put, "/exhook/drivers/custom/reload"}, {put, "/exhook/drivers/rec/enable"},
                {put, "/exhook/drivers/rec/reload"}, {put, "/exhook/drivers/custom/disable"},
                {put, "/exhook/drivers/custom/enable"}],
    Bodies = [element(2, raw(M, P)) || {M, P} <- Requests],
    [?assertEqual(nomatch, binary:match(Body, Secrets), Body) || Body <- Bodies],
    %% The secrets were there to leak: shown without them.
    [CustomJson, RecJson, BadConfJson] = data(get, "/exhook/drivers"),
    ?assertEqual(#{<<"database_url">> => <<"postgres://app:******@db.example:5432/app?sslpassword=******">>,
                   <<"api_key">> => <<"******">>},
                 maps:get(<<"handler">>, CustomJson)),
    ?assertMatch(<<"exhook.drivers.badconf.call_timeout: \"postgres://app:******@db.example/app\"",
                   _/binary>>, maps:get(<<"error">>, BadConfJson)),
    ?assertMatch(<<"the handler's init failed: ", _/binary>>, maps:get(<<"error">>, RecJson)),
    ?assertNotEqual(nomatch, binary:match(maps:get(<<"error">>, RecJson),
                                          <<"postgres://app:******@db.example/app">>)).
