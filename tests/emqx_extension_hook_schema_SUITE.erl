%% @doc The cuttlefish schema (erlang/priv/emqx_extension_hook.schema) and
%% the default config (erlang/etc/emqx_extension_hook.conf).
%%
%% cuttlefish is not installed here, so the suite does what cuttlefish
%% does with the parts that matter, as read from EMQX's fork
%% (emqx/cuttlefish):
%% - src/cuttlefish_schema.erl: the schema file is read as latin-1 and
%%   each `.'-terminated form is parsed with erl_parse:parse_exprs/1 and
%%   evaluated with erl_eval:exprs/2 (a translation holds a fun, which
%%   file:consult/1 refuses); only `{mapping, Var, Target, Attrs}' 4-tuples
%%   and `{translation, Target, Fun}' are taken.
%% - src/cuttlefish_generator.erl: add_fuzzy_default/4 adds the mappings'
%%   defaults for every $name that has some key set; transform_datatypes/2
%%   converts the values; try_apply_translation/3 calls the translation
%%   with the conf as `[{["exhook", "drivers", Name, Key], Value}]' and
%%   turns `throw({invalid, Reason})' into translation_invalid_configuration.
%% tests/cuttlefish.erl and tests/cuttlefish_variable.erl stand in for the
%% cuttlefish functions the translation calls.
-module(emqx_extension_hook_schema_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(TARGET, "emqx_extension_hook.drivers").
-define(ROOT, root()).
-define(SCHEMA, filename:join([?ROOT, "erlang", "priv", "emqx_extension_hook.schema"])).
-define(CONF, filename:join([?ROOT, "erlang", "etc", "emqx_extension_hook.conf"])).

all() ->
    [schema_parses_as_cuttlefish_reads_it,
     every_mapping_is_a_4_tuple_targeting_drivers_env,
     one_arity_1_translation_for_drivers_env,
     two_listed_drivers_come_out_in_listed_order,
     unset_keys_get_defaults_5s_8_deny_and_no_init_module,
     mapping_defaults_added_by_cuttlefish_give_the_same_env,
     unset_driver_list_gives_empty_list,
     listed_driver_without_path_is_invalid_naming_it,
     configured_but_unlisted_driver_is_not_enabled,
     init_module_text_becomes_atom,
     driver_names_split_on_commas_and_blanks,
     driver_listed_twice_is_invalid,
     non_positive_call_timeout_or_pool_size_is_invalid,
     every_driver_key_of_conf_file_has_a_mapping,
     default_conf_file_enables_no_driver,
     conf_file_examples_give_env_the_config_module_accepts].

%%--------------------------------------------------------------------
%% Test cases

schema_parses_as_cuttlefish_reads_it(_) ->
    Terms = schema(),
    ?assert(length(Terms) > 1),
    [?assert(element(1, T) =:= mapping orelse element(1, T) =:= translation, T)
     || T <- Terms],
    %% cuttlefish reads the file as latin-1: keep it ASCII.
    {ok, Bin} = file:read_file(?SCHEMA),
    ?assertEqual([], [C || <<C>> <= Bin, C > 127]).

every_mapping_is_a_4_tuple_targeting_drivers_env(_) ->
    Mappings = [T || T <- schema(), element(1, T) =:= mapping],
    ?assertEqual(6, length(Mappings)),
    lists:foreach(
      fun(M) ->
              %% emqx/cuttlefish cuttlefish_schema:parse_schema/3 takes
              %% only the 4-tuple form; a 3-tuple is a parse_schema error.
              ?assertMatch({mapping, _, ?TARGET, _}, M),
              {mapping, Var, _, Attrs} = M,
              ?assert(io_lib:printable_latin1_list(Var)),
              ?assertMatch(["exhook", "drivers" | _], string:split(Var, ".", all)),
              ?assert(is_list(Attrs)),
              [?assertMatch({_, _}, A) || A <- Attrs],
              DT = proplists:get_value(datatype, Attrs),
              ?assert(lists:member(DT, [string, integer, {duration, ms}, {enum, [ignore, deny]}]),
                      {Var, DT}),
              case proplists:get_value(default, Attrs) of
                  undefined -> ok;
                  Default -> ?assertMatch({ok, _}, convert(Default, DT), {Var, Default})
              end
      end, Mappings),
    Vars = lists:sort([V || {mapping, V, _, _} <- Mappings]),
    ?assertEqual(lists:sort(["exhook.drivers",
                             "exhook.drivers.$name.path",
                             "exhook.drivers.$name.init_module",
                             "exhook.drivers.$name.call_timeout",
                             "exhook.drivers.$name.pool_size",
                             "exhook.drivers.$name.failed_action"]), Vars),
    %% Defaults as documented; path and the driver list have none.
    ?assertEqual(#{"exhook.drivers.$name.call_timeout" => "5s",
                   "exhook.drivers.$name.pool_size" => 8,
                   "exhook.drivers.$name.failed_action" => "deny"},
                 maps:from_list([{V, D} || {mapping, V, _, A} <- Mappings,
                                           {default, D} <- A])).

one_arity_1_translation_for_drivers_env(_) ->
    ?assertMatch([{translation, ?TARGET, F}] when is_function(F, 1),
                 [T || T <- schema(), element(1, T) =:= translation]).

two_listed_drivers_come_out_in_listed_order(_) ->
    Conf = [{["exhook", "drivers", "audit", "path"], "/x/libaudit.so"},
            {["exhook", "drivers", "audit", "call_timeout"], 500},
            {["exhook", "drivers", "audit", "pool_size"], 2},
            {["exhook", "drivers", "audit", "failed_action"], ignore},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"},
            {["exhook", "drivers", "auth", "init_module"], "my_auth"},
            {["exhook", "drivers", "auth", "call_timeout"], 2000},
            {["exhook", "drivers", "auth", "pool_size"], 4},
            {["exhook", "drivers", "auth", "failed_action"], deny},
            {["exhook", "drivers"], "auth, audit"}],
    ?assertEqual({set, [{auth, [{path, "/x/libauth.so"},
                                {init_module, my_auth},
                                {call_timeout, 2000},
                                {pool_size, 4},
                                {failed_action, deny}]},
                        {audit, [{path, "/x/libaudit.so"},
                                 {call_timeout, 500},
                                 {pool_size, 2},
                                 {failed_action, ignore}]}]},
                 translate(Conf)),
    %% The conf's key order does not matter, only the list's.
    ?assertMatch({set, [{audit, _}, {auth, _}]},
                 translate(lists:keystore(["exhook", "drivers"], 1, lists:reverse(Conf),
                                          {["exhook", "drivers"], "audit,auth"}))).

unset_keys_get_defaults_5s_8_deny_and_no_init_module(_) ->
    Conf = [{["exhook", "drivers"], "auth"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"}],
    ?assertEqual({set, [{auth, [{path, "/x/libauth.so"},
                                {call_timeout, 5000},
                                {pool_size, 8},
                                {failed_action, deny}]}]},
                 translate(Conf)).

mapping_defaults_added_by_cuttlefish_give_the_same_env(_) ->
    Raw = [{["exhook", "drivers"], "auth"},
           {["exhook", "drivers", "auth", "path"], "/x/libauth.so"}],
    WithDefaults = add_defaults(Raw),
    ?assertEqual(5000, proplists:get_value(["exhook", "drivers", "auth", "call_timeout"],
                                           WithDefaults)),
    ?assertEqual(8, proplists:get_value(["exhook", "drivers", "auth", "pool_size"],
                                        WithDefaults)),
    ?assertEqual(deny, proplists:get_value(["exhook", "drivers", "auth", "failed_action"],
                                           WithDefaults)),
    ?assertEqual(translate(Raw), translate(WithDefaults)).

unset_driver_list_gives_empty_list(_) ->
    ?assertEqual({set, []}, translate([])),
    ?assertEqual({set, []}, translate(add_defaults([]))),
    %% Only separators: no driver either.
    ?assertEqual({set, []}, translate([{["exhook", "drivers"], " , "}])).

listed_driver_without_path_is_invalid_naming_it(_) ->
    Conf = [{["exhook", "drivers"], "auth, audit"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"},
            {["exhook", "drivers", "audit", "pool_size"], 2}],
    {error, {translation_invalid_configuration, {?TARGET, Reason}}} =
        translate(add_defaults(Conf)),
    ct:log("~ts", [Reason]),
    ?assert(io_lib:printable_list(Reason)),
    ?assertNotEqual(nomatch, string:find(Reason, "driver audit ")),
    ?assertNotEqual(nomatch, string:find(Reason, "exhook.drivers.audit.path")),
    %% A listed name with no key at all: the same.
    {error, {translation_invalid_configuration, {?TARGET, Reason2}}} =
        translate([{["exhook", "drivers"], "ghost"}]),
    ?assertNotEqual(nomatch, string:find(Reason2, "driver ghost ")).

configured_but_unlisted_driver_is_not_enabled(_) ->
    Conf = [{["exhook", "drivers"], "auth"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"},
            {["exhook", "drivers", "spare", "path"], "/x/libspare.so"},
            {["exhook", "drivers", "spare", "init_module"], "spare"}],
    ?assertMatch({set, [{auth, _}]}, translate(add_defaults(Conf))),
    %% Configured, nothing listed: nothing enabled.
    ?assertEqual({set, []}, translate(add_defaults(tl(Conf)))).

init_module_text_becomes_atom(_) ->
    Conf = [{["exhook", "drivers"], "custom"},
            {["exhook", "drivers", "custom", "path"], "priv/libemqx_example_custom_hook.so"},
            {["exhook", "drivers", "custom", "init_module"], "emqx_example_custom_hook"}],
    {set, [{custom, Opts}]} = translate(Conf),
    ?assertEqual(emqx_example_custom_hook, proplists:get_value(init_module, Opts)).

driver_names_split_on_commas_and_blanks(_) ->
    Conf = [{["exhook", "drivers", N, "path"], "/x/" ++ N ++ ".so"} || N <- ["a", "b", "c"]],
    [?assertMatch({set, [{a, _}, {b, _}, {c, _}]},
                  translate([{["exhook", "drivers"], List} | Conf]), List)
     || List <- ["a,b,c", "a, b, c", " a ,b\t, c ", "a b c", "a,,b,c,"]].

driver_listed_twice_is_invalid(_) ->
    Conf = [{["exhook", "drivers"], "auth, audit, auth"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"},
            {["exhook", "drivers", "audit", "path"], "/x/libaudit.so"}],
    {error, {translation_invalid_configuration, {?TARGET, Reason}}} = translate(Conf),
    ?assertNotEqual(nomatch, string:find(Reason, "driver auth ")).

non_positive_call_timeout_or_pool_size_is_invalid(_) ->
    Base = [{["exhook", "drivers"], "auth"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"}],
    lists:foreach(
      fun({Key, Value}) ->
              {error, {translation_invalid_configuration, {?TARGET, Reason}}} =
                  translate([{["exhook", "drivers", "auth", Key], Value} | Base]),
              ?assertNotEqual(nomatch, string:find(Reason, "exhook.drivers.auth." ++ Key))
      end,
      [{"call_timeout", 0}, {"pool_size", 0}, {"pool_size", -1}]).

every_driver_key_of_conf_file_has_a_mapping(_) ->
    Patterns = [string:split(V, ".", all) || {mapping, V, _, _} <- schema()],
    Keys = [K || {K, _} <- conf_file(all)],
    DriverKeys = [K || ["exhook", "drivers" | _] = K <- Keys],
    %% The file documents the list and all five keys of a driver.
    ?assert(lists:member(["exhook", "drivers"], DriverKeys)),
    ?assertEqual(["call_timeout", "failed_action", "init_module", "path", "pool_size"],
                 lists:usort([Key || ["exhook", "drivers", "custom", Key] <- DriverKeys])),
    ?assertEqual(Keys, DriverKeys),
    [?assert(lists:any(fun(P) -> matches(K, P) end, Patterns), K) || K <- Keys].

default_conf_file_enables_no_driver(_) ->
    ?assertEqual([], conf_file(active)),
    ?assertEqual({set, []}, translate(add_defaults(convert_conf(conf_file(active))))).

conf_file_examples_give_env_the_config_module_accepts(_) ->
    %% Every commented-out setting uncommented; the last `exhook.drivers'
    %% line (two drivers) wins, as a later line does in cuttlefish.
    Examples = conf_file(commented),
    ?assertEqual("gatekeeper, custom", proplists:get_value(["exhook", "drivers"],
                                                           lists:reverse(Examples))),
    Conf = add_defaults(convert_conf(Examples)),
    {set, Env} = translate(Conf),
    ?assertEqual([{gatekeeper, [{path, "etc/plugins/emqx_extension_hook/priv/"
                                       "libemqx_example_gatekeeper.so"},
                                {init_module, emqx_example_gatekeeper},
                                {call_timeout, 500},
                                {pool_size, 8},
                                {failed_action, ignore}]},
                  {custom, [{path, "etc/plugins/emqx_extension_hook/priv/"
                                   "libemqx_example_custom_hook.so"},
                            {init_module, emqx_example_custom_hook},
                            {call_timeout, 5000},
                            {pool_size, 8},
                            {failed_action, deny}]}], Env),
    %% The consumer of the env takes it as it is.
    lists:foldl(
      fun({_Name, Raw}, Pos) ->
              {ok, Opts} = emqx_extension_hook_config:parse(Raw, Pos),
              ?assertEqual(proplists:get_value(init_module, Raw), maps:get(init_module, Opts)),
              ?assertEqual(proplists:get_value(call_timeout, Raw), maps:get(call_timeout, Opts)),
              Pos + 1
      end, 0, Env),
    %% The paths name the example libraries of priv/ (built by `make
    %% native') where the plugin directory puts them in a release.
    [begin
         ?assertEqual("etc/plugins/emqx_extension_hook/priv", filename:dirname(P)),
         ?assert(filelib:is_regular(filename:join([?ROOT, "erlang", "priv",
                                                   filename:basename(P)])))
     end || {_, Raw} <- Env, {path, P} <- Raw].

%%--------------------------------------------------------------------
%% Helpers

%% The repository: the first directory above this file (which rebar3 may
%% have copied under _build/) that holds the application's schema.
root() ->
    root(filename:dirname(filename:absname(?FILE))).

root(Dir) ->
    case filelib:is_regular(filename:join([Dir, "erlang", "priv", "emqx_extension_hook.schema"])) of
        true -> Dir;
        false when Dir =/= "/" -> root(filename:dirname(Dir));
        false -> error({repository_not_found, ?FILE})
    end.

%% The schema's terms, parsed form by form as cuttlefish_schema does.
schema() ->
    {ok, Bin} = file:read_file(?SCHEMA),
    {ok, Tokens, _} = erl_scan:string(unicode:characters_to_list(Bin, latin1)),
    [eval_form(Form) || Form <- forms(Tokens, [])].

forms([], []) -> [];
forms([{dot, _} = Dot | Rest], Acc) -> [lists:reverse([Dot | Acc]) | forms(Rest, [])];
forms([Token | Rest], Acc) -> forms(Rest, [Token | Acc]).

eval_form(Tokens) ->
    {ok, Exprs} = erl_parse:parse_exprs(Tokens),
    {value, Term, _} = erl_eval:exprs(Exprs, []),
    Term.

translation() ->
    [Fun] = [F || {translation, ?TARGET, F} <- schema()],
    Fun.

%% As cuttlefish_generator:try_apply_translation/3.
translate(Conf) ->
    try (translation())(Conf) of
        {ok, Value} -> {set, Value};
        Value -> {set, Value}
    catch
        throw:{not_found, Variable} ->
            {error, {translation_missing_setting, {?TARGET, string:join(Variable, ".")}}};
        throw:unset ->
            unset;
        throw:{invalid, Reason} ->
            {error, {translation_invalid_configuration, {?TARGET, Reason}}};
        Class:Error ->
            {error, {translation_unknown_error, {?TARGET, {Class, Error}}}}
    end.

%% As cuttlefish_generator:add_defaults/2 for this schema's fuzzy
%% mappings: for every driver name with some key set, each mapping
%% default (converted by its datatype) for the keys not set.
add_defaults(Conf) ->
    Names = lists:usort([N || {["exhook", "drivers", N, _], _} <- Conf]),
    Defaults = [{["exhook", "drivers", N, Key], Value}
                || {mapping, Var, _, Attrs} <- schema(),
                   ["exhook", "drivers", "$name", Key] <- [string:split(Var, ".", all)],
                   {default, Default} <- Attrs,
                   {ok, Value} <- [convert(Default, proplists:get_value(datatype, Attrs))],
                   N <- Names],
    Conf ++ [D || {K, _} = D <- Defaults, not lists:keymember(K, 1, Conf)].

%% Conf file settings as conf_parse reads them: `key = value', the value
%% with trailing blanks stripped. `active' are the settings cuttlefish
%% reads, `commented' the documented examples (`## key = value'), `all'
%% both.
conf_file(Which) ->
    {ok, Bin} = file:read_file(?CONF),
    Lines = string:split(unicode:characters_to_list(Bin), "\n", all),
    Setting = "^\\s*([A-Za-z0-9_.@/:-]+)\\s*=\\s*(\\S.*?)\\s*$",
    Active = [setting(M) || L <- Lines,
                            {match, M} <- [re:run(L, Setting, [{capture, all_but_first, list}])]],
    Commented = [setting(M) || L <- Lines,
                               {match, M} <- [re:run(L, "^##\\s*(exhook\\.[A-Za-z0-9_.@/:-]+)"
                                                     "\\s*=\\s*(\\S.*?)\\s*$",
                                                     [{capture, all_but_first, list}])]],
    case Which of
        active -> Active;
        commented -> Commented;
        all -> Active ++ Commented
    end.

setting([Key, Value]) -> {string:split(Key, ".", all), Value}.

%% Conf file text converted by each key's mapping datatype, as
%% cuttlefish_generator:transform_datatypes/2 does; a key set twice keeps
%% its last value (cuttlefish_conf).
convert_conf(Settings) ->
    Mappings = [M || {mapping, _, _, _} = M <- schema()],
    Last = lists:foldl(fun({K, V}, Acc) -> lists:keystore(K, 1, Acc, {K, V}) end,
                       [], Settings),
    [begin
         [DT] = [proplists:get_value(datatype, A) || {mapping, V, _, A} <- Mappings,
                                                     matches(Key, string:split(V, ".", all))],
         {ok, Converted} = convert(Text, DT),
         {Key, Converted}
     end || {Key, Text} <- Last].

%% The conversions of cuttlefish_datatypes:from_string/2 this schema
%% needs, for the forms the conf file and the defaults use.
convert(Value, string) when is_list(Value) -> {ok, Value};
convert(Value, integer) when is_integer(Value) -> {ok, Value};
convert(Value, integer) when is_list(Value) -> {ok, list_to_integer(Value)};
convert(Value, {enum, _} = DT) when is_list(Value) -> convert(list_to_atom(Value), DT);
convert(Value, {enum, Atoms}) when is_atom(Value) ->
    case lists:member(Value, Atoms) of
        true -> {ok, Value};
        false -> {error, {enum_name, Value}}
    end;
convert(Value, {duration, ms}) when is_list(Value) ->
    case re:run(Value, "^([0-9]+)(ms|s|m|h)$", [{capture, all_but_first, list}]) of
        {match, [N, Unit]} ->
            Ms = #{"ms" => 1, "s" => 1000, "m" => 60000, "h" => 3600000},
            {ok, list_to_integer(N) * maps:get(Unit, Ms)};
        nomatch ->
            {error, {duration, Value}}
    end;
convert(Value, DT) ->
    {error, {unsupported, Value, DT}}.

%% Whether conf key `Key' (a list of words) is a mapping variable `Var'
%% (words, `$name' matching any one word).
matches(Key, Var) when length(Key) =:= length(Var) ->
    lists:all(fun({K, "$" ++ _}) -> K =/= "";
                 ({K, V}) -> K =:= V
              end, lists:zip(Key, Var));
matches(_, _) ->
    false.
