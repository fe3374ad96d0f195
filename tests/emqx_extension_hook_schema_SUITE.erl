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
%%   converts the values (find_mapping/2 picks each key's mapping);
%%   try_apply_translation/3 calls the translation with the conf as
%%   `[{["exhook", "drivers", Name, Key], Value}]' (and
%%   `{["exhook", "drivers", Name, "hook", Hook, "mode"], Mode}') and
%%   turns `throw({invalid, Reason})' into translation_invalid_configuration.
%% - src/cuttlefish_variable.erl (basho/cuttlefish; Kyorai/cuttlefish the
%%   same): is_fuzzy_match/2 matches every `$' word of a mapping variable
%%   against any one word of a key of the same length, so
%%   `exhook.drivers.$name.hook.$hook.mode' works with its two variables;
%%   fuzzy_matches/2 keeps only the first binding of a key ($name), which
%%   is what get_possible_values_for_fuzzy_matches/2 collects names from;
%%   replace_match/2 puts that one name in place of every `$' word when a
%%   default is added (so a two-variable mapping must have no default).
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
-define(MODE_DT, {enum, [inline, dirty_cpu, dirty_io, pool]}).
-define(TRANSPORT_DT, {enum, [nif, port]}).
-define(FOLD_HOOKS, ["client_connect", "client_authenticate", "client_check_acl",
                     "client_subscribe", "message_publish", "message_delivered"]).

all() ->
    [schema_parses_as_cuttlefish_reads_it,
     every_mapping_is_a_4_tuple_targeting_drivers_env,
     one_arity_1_translation_for_drivers_env,
     two_listed_drivers_come_out_in_listed_order,
     unset_keys_get_defaults_nif_5s_8_64_1024_deny_and_no_init_module_or_mode,
     mapping_defaults_added_by_cuttlefish_give_the_same_env,
     every_conf_key_finds_exactly_one_mapping_as_cuttlefish_does,
     two_variable_mapping_has_no_default_and_adds_none,
     driver_wide_mode_is_emitted_only_when_set,
     per_hook_modes_are_emitted_sorted_by_hook,
     per_hook_mode_of_every_fold_hook_and_of_no_other,
     per_hook_mode_on_a_notification_hook_is_invalid_naming_the_key,
     invalid_mode_value_is_rejected,
     transport_defaults_to_nif_and_is_always_emitted_after_path_and_kind,
     kind_defaults_from_the_name_and_java_defaults_to_port,
     python3_path_defaults_to_data_extension,
     optional_venv_java_and_jvm_args_are_emitted_when_set,
     handler_settings_are_emitted_sorted_by_key,
     transport_port_is_emitted,
     invalid_transport_value_is_rejected,
     queue_capacity_defaults_to_1024_and_takes_a_custom_value,
     pool_max_defaults_to_64_and_takes_a_custom_value,
     pool_size_defaults_to_8_and_to_one_jvm_for_java,
     unset_driver_list_gives_empty_list,
     listed_driver_without_path_is_invalid_naming_it,
     configured_but_unlisted_driver_is_not_enabled,
     init_module_stays_text,
     driver_names_split_on_commas_and_blanks,
     driver_listed_twice_is_invalid,
     non_positive_call_timeout_pool_size_pool_max_or_queue_capacity_is_invalid,
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
    ?assertEqual(17, length(Mappings)),
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
              ?assert(lists:member(DT, [string, integer, {duration, ms}, {enum, [ignore, deny]},
                                        {enum, [true, false]}, ?MODE_DT, ?TRANSPORT_DT]),
                      {Var, DT}),
              case proplists:get_value(default, Attrs) of
                  undefined -> ok;
                  Default -> ?assertMatch({ok, _}, convert(Default, DT), {Var, Default})
              end
      end, Mappings),
    Vars = lists:sort([V || {mapping, V, _, _} <- Mappings]),
    ?assertEqual(lists:sort(["exhook.drivers",
                             "exhook.drivers.$name.kind",
                             "exhook.drivers.$name.optional",
                             "exhook.drivers.$name.venv",
                             "exhook.drivers.$name.java",
                             "exhook.drivers.$name.jvm_args",
                             "exhook.drivers.$name.handler.$key",
                             "exhook.drivers.$name.path",
                             "exhook.drivers.$name.transport",
                             "exhook.drivers.$name.init_module",
                             "exhook.drivers.$name.call_timeout",
                             "exhook.drivers.$name.pool_size",
                             "exhook.drivers.$name.pool_max",
                             "exhook.drivers.$name.queue_capacity",
                             "exhook.drivers.$name.failed_action",
                             "exhook.drivers.$name.mode",
                             "exhook.drivers.$name.hook.$hook.mode"]), Vars),
    %% Both modes are cuttlefish enums of the four modes.
    ?assertEqual([?MODE_DT, ?MODE_DT],
                 [proplists:get_value(datatype, A) || {mapping, V, _, A} <- Mappings,
                                                      lists:suffix(".mode", V)]),
    %% Defaults as documented; path, kind, transport and pool_size (their defaults depend on
    %% the kind), init_module, the modes, the handler settings and the
    %% driver list have none.
    ?assertEqual(#{"exhook.drivers.$name.optional" => false,
                   "exhook.drivers.$name.call_timeout" => "5s",
                   "exhook.drivers.$name.pool_max" => 64,
                   "exhook.drivers.$name.queue_capacity" => 1024,
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
                                {kind, native},
                                {transport, nif},
                                {init_module, "my_auth"},
                                {call_timeout, 2000},
                                {pool_size, 4},
                                {pool_max, 64},
                                {queue_capacity, 1024},
                                {failed_action, deny},
                                {optional, false}]},
                        {audit, [{path, "/x/libaudit.so"},
                                 {kind, native},
                                 {transport, nif},
                                 {call_timeout, 500},
                                 {pool_size, 2},
                                 {pool_max, 64},
                                 {queue_capacity, 1024},
                                 {failed_action, ignore},
                                 {optional, false}]}]},
                 translate(Conf)),
    %% The conf's key order does not matter, only the list's.
    ?assertMatch({set, [{audit, _}, {auth, _}]},
                 translate(lists:keystore(["exhook", "drivers"], 1, lists:reverse(Conf),
                                          {["exhook", "drivers"], "audit,auth"}))).

unset_keys_get_defaults_nif_5s_8_64_1024_deny_and_no_init_module_or_mode(_) ->
    Conf = [{["exhook", "drivers"], "auth"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"}],
    Expected = {set, [{auth, [{path, "/x/libauth.so"},
                              {kind, native},
                              {transport, nif},
                              {call_timeout, 5000},
                              {pool_size, 8},
                              {pool_max, 64},
                              {queue_capacity, 1024},
                              {failed_action, deny},
                              {optional, false}]}]},
    ?assertEqual(Expected, translate(Conf)),
    ?assertEqual(Expected, translate(add_defaults(Conf))).

mapping_defaults_added_by_cuttlefish_give_the_same_env(_) ->
    Raw = [{["exhook", "drivers"], "auth"},
           {["exhook", "drivers", "auth", "path"], "/x/libauth.so"}],
    WithDefaults = add_defaults(Raw),
    ?assertEqual(false, proplists:get_value(["exhook", "drivers", "auth", "optional"],
                                            WithDefaults)),
    ?assertEqual(5000, proplists:get_value(["exhook", "drivers", "auth", "call_timeout"],
                                           WithDefaults)),
    %% pool_size's default depends on the kind: the translation gives it.
    ?assertEqual(undefined, proplists:get_value(["exhook", "drivers", "auth", "pool_size"],
                                                WithDefaults)),
    ?assertEqual(64, proplists:get_value(["exhook", "drivers", "auth", "pool_max"],
                                         WithDefaults)),
    ?assertEqual(1024, proplists:get_value(["exhook", "drivers", "auth", "queue_capacity"],
                                           WithDefaults)),
    ?assertEqual(deny, proplists:get_value(["exhook", "drivers", "auth", "failed_action"],
                                           WithDefaults)),
    %% No default for either mode: absent means the handler decides.
    ?assertEqual(lists:sort(["call_timeout", "failed_action", "optional", "path", "pool_max",
                             "queue_capacity"]),
                 lists:sort([K || {["exhook", "drivers", "auth" | K0], _} <- WithDefaults,
                                  K <- [string:join(K0, ".")]])),
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

every_conf_key_finds_exactly_one_mapping_as_cuttlefish_does(_) ->
    %% cuttlefish_generator:find_mapping/2 wants one strict match or else
    %% exactly one fuzzy match; the two-variable mapping must not overlap
    %% with any other.
    Keys = [["exhook", "drivers"]] ++
        [["exhook", "drivers", "auth", K] || K <- ["path", "transport", "init_module",
                                                   "call_timeout", "pool_size", "pool_max",
                                                   "queue_capacity", "failed_action",
                                                   "mode"]] ++
        [["exhook", "drivers", "auth", "hook", H, "mode"] || H <- ?FOLD_HOOKS] ++
        %% Names that look like keys are still names.
        [["exhook", "drivers", "hook", "mode"],
         ["exhook", "drivers", "mode", "hook", "client_connect", "mode"]],
    [?assertMatch({ok, _}, find_mapping(K), K) || K <- Keys],
    {ok, {mapping, HookVar, _, _}} =
        find_mapping(["exhook", "drivers", "auth", "hook", "client_check_acl", "mode"]),
    ?assertEqual("exhook.drivers.$name.hook.$hook.mode", HookVar),
    {ok, {mapping, DriverVar, _, _}} = find_mapping(["exhook", "drivers", "hook", "mode"]),
    ?assertEqual("exhook.drivers.$name.mode", DriverVar),
    %% Both variables bind, in order (cuttlefish_variable:extract_first_match/2).
    ?assertEqual([{"$name", "auth"}, {"$hook", "client_check_acl"}],
                 bindings(string:split(HookVar, ".", all),
                          ["exhook", "drivers", "auth", "hook", "client_check_acl", "mode"])),
    %% A key of another length or another fixed word has no mapping:
    %% cuttlefish refuses it (unknown_variable).
    [?assertEqual(error, find_mapping(K), K)
     || K <- [["exhook", "drivers", "auth", "hook", "mode"],
              ["exhook", "drivers", "auth", "hooks", "client_connect", "mode"],
              ["exhook", "drivers", "auth", "hook", "client_connect", "pool_size"]]].

two_variable_mapping_has_no_default_and_adds_none(_) ->
    %% cuttlefish_variable:replace_match/2 replaces every `$' word with the
    %% one name found: a default here would be added as
    %% exhook.drivers.auth.hook.auth.mode, a key nobody set.
    [?assertEqual(undefined, proplists:get_value(default, Attrs), Var)
     || {mapping, Var, _, Attrs} <- schema(),
        Var =:= "exhook.drivers.$name.hook.$hook.mode" orelse
            Var =:= "exhook.drivers.$name.handler.$key"],
    ?assertEqual(["exhook", "drivers", "auth", "hook", "auth", "mode"],
                 replace_match(["exhook", "drivers", "$name", "hook", "$hook", "mode"], "auth")),
    %% Every fuzzy mapping has the one prefix `exhook.drivers' then $name,
    %% so the names cuttlefish collects are driver names.
    [?assertMatch(["exhook", "drivers", "$name" | _], string:split(V, ".", all), V)
     || {mapping, V, _, _} <- schema(), string:find(V, "$") =/= nomatch],
    %% A driver with only a per-hook mode set still gets the defaults of
    %% its other keys, and nothing else.
    Conf = [{["exhook", "drivers", "auth", "hook", "client_check_acl", "mode"], inline}],
    ?assertEqual(lists:sort(Conf ++ [{["exhook", "drivers", "auth", "optional"], false},
                                     {["exhook", "drivers", "auth", "call_timeout"], 5000},
                                     {["exhook", "drivers", "auth", "pool_max"], 64},
                                     {["exhook", "drivers", "auth", "queue_capacity"], 1024},
                                     {["exhook", "drivers", "auth", "failed_action"], deny}]),
                 lists:sort(add_defaults(Conf))).

driver_wide_mode_is_emitted_only_when_set(_) ->
    Base = [{["exhook", "drivers"], "auth, audit"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"},
            {["exhook", "drivers", "audit", "path"], "/x/libaudit.so"}],
    [begin
         Conf = add_defaults([{["exhook", "drivers", "auth", "mode"], Mode} | Base]),
         {set, [{auth, Auth}, {audit, Audit}]} = translate(Conf),
         ?assertEqual([{mode, Mode}], [KV || {mode, _} = KV <- Auth]),
         %% After the others, as the config module documents the shape.
         ?assertEqual({mode, Mode}, lists:last(Auth)),
         ?assertEqual(false, lists:keymember(modes, 1, Auth)),
         %% Another driver's mode is its own.
         ?assertEqual(false, lists:keymember(mode, 1, Audit))
     end || Mode <- [inline, dirty_cpu, dirty_io, pool]],
    %% From conf file text, through the enum datatype.
    {set, [{auth, Auth2}, _]} =
        translate(add_defaults(convert_conf(
                                 Base ++ [{["exhook", "drivers", "auth", "mode"], "dirty_io"}]))),
    ?assertEqual(dirty_io, proplists:get_value(mode, Auth2)).

per_hook_modes_are_emitted_sorted_by_hook(_) ->
    Text = [{["exhook", "drivers"], "auth, audit"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"},
            {["exhook", "drivers", "auth", "mode"], "dirty_io"},
            {["exhook", "drivers", "auth", "hook", "message_publish", "mode"], "pool"},
            {["exhook", "drivers", "auth", "hook", "client_check_acl", "mode"], "inline"},
            {["exhook", "drivers", "auth", "hook", "client_authenticate", "mode"], "dirty_cpu"},
            {["exhook", "drivers", "audit", "path"], "/x/libaudit.so"},
            %% Another driver's, and an unlisted driver's, are their own.
            {["exhook", "drivers", "audit", "hook", "client_connect", "mode"], "inline"},
            {["exhook", "drivers", "spare", "hook", "session_created", "mode"], "inline"}],
    {set, [{auth, Auth}, {audit, Audit}]} = translate(add_defaults(convert_conf(Text))),
    ?assertEqual([{path, "/x/libauth.so"},
                  {kind, native},
                  {transport, nif},
                  {call_timeout, 5000},
                  {pool_size, 8},
                  {pool_max, 64},
                  {queue_capacity, 1024},
                  {failed_action, deny},
                  {optional, false},
                  {mode, dirty_io},
                  {modes, [{client_authenticate, dirty_cpu},
                           {client_check_acl, inline},
                           {message_publish, pool}]}], Auth),
    ?assertEqual([{client_connect, inline}], proplists:get_value(modes, Audit)),
    ?assertEqual(undefined, proplists:get_value(mode, Audit)),
    %% The conf's order does not matter.
    ?assertEqual({set, [{auth, Auth}, {audit, Audit}]},
                 translate(add_defaults(convert_conf(lists:reverse(Text))))),
    %% No per-hook mode: no `modes' at all.
    {set, [{auth, Plain}, _]} =
        translate(add_defaults(convert_conf([KV || {K, _} = KV <- Text,
                                                   not lists:member("hook", K)]))),
    ?assertEqual(false, lists:keymember(modes, 1, Plain)).

per_hook_mode_of_every_fold_hook_and_of_no_other(_) ->
    %% The schema's fold hooks are the plugin's: the hooks called as folds,
    %% named as in the config (`client.check_acl' -> client_check_acl).
    Hooks = [{Key, Kind} || #{callback := Callback, kind := Kind} <- emqx_extension_hook_hooks:all(),
                            "on_" ++ Key <- [atom_to_list(Callback)]],
    ?assertEqual(19, length(Hooks)),
    ?assertEqual(lists:sort(?FOLD_HOOKS), lists:sort([K || {K, fold} <- Hooks])),
    Base = [{["exhook", "drivers"], "auth"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"}],
    lists:foreach(
      fun({Hook, fold}) ->
              {set, [{auth, Opts}]} =
                  translate([{["exhook", "drivers", "auth", "hook", Hook, "mode"], inline} | Base]),
              ?assertEqual([{list_to_atom(Hook), inline}], proplists:get_value(modes, Opts));
         ({Hook, notify}) ->
              ?assertMatch({error, {translation_invalid_configuration, {?TARGET, _}}},
                           translate([{["exhook", "drivers", "auth", "hook", Hook, "mode"], pool}
                                      | Base]), Hook)
      end, Hooks).

per_hook_mode_on_a_notification_hook_is_invalid_naming_the_key(_) ->
    Base = [{["exhook", "drivers"], "auth"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"}],
    Conf = add_defaults(convert_conf(
                          Base ++
                              [{["exhook", "drivers", "auth", "hook", "client_check_acl", "mode"],
                                "inline"},
                               {["exhook", "drivers", "auth", "hook", "session_created", "mode"],
                                "inline"}])),
    {error, {translation_invalid_configuration, {?TARGET, Reason}}} = translate(Conf),
    ct:log("~ts", [Reason]),
    ?assert(io_lib:printable_list(Reason)),
    ?assert(lists:prefix("exhook.drivers.auth.hook.session_created.mode: session_created "
                         "is not a fold hook; notification hooks are always queued", Reason),
            Reason),
    %% The message names the hooks that take a mode.
    [?assertNotEqual(nomatch, string:find(Reason, H)) || H <- ?FOLD_HOOKS],
    %% A hook that does not exist: the same.
    {error, {translation_invalid_configuration, {?TARGET, Reason2}}} =
        translate([{["exhook", "drivers", "auth", "hook", "client_chek_acl", "mode"], inline}
                   | Base]),
    ?assertNotEqual(nomatch, string:find(Reason2, "exhook.drivers.auth.hook.client_chek_acl.mode")).

invalid_mode_value_is_rejected(_) ->
    %% cuttlefish converts the conf text with the mapping's enum datatype
    %% (cuttlefish_datatypes:from_string/2) before any translation runs: a
    %% value outside the enum stops it there (transform_datatypes). Both
    %% mappings declare the enum of the four modes.
    lists:foreach(
      fun(Key) ->
              {ok, {mapping, _, _, Attrs}} = find_mapping(Key),
              DT = proplists:get_value(datatype, Attrs),
              ?assertEqual(?MODE_DT, DT),
              [?assertEqual({ok, list_to_atom(M)}, convert(M, DT))
               || M <- ["inline", "dirty_cpu", "dirty_io", "pool"]],
              [?assertMatch({error, _}, convert(Bad, DT), Bad)
               || Bad <- ["fast", "Inline", "dirty", "", "ignore"]]
      end,
      [["exhook", "drivers", "auth", "mode"],
       ["exhook", "drivers", "auth", "hook", "client_check_acl", "mode"]]),
    %% A translation given a value no enum would give (a config made some
    %% other way) refuses it too, naming the key.
    Base = [{["exhook", "drivers"], "auth"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"}],
    lists:foreach(
      fun({Key, Name}) ->
              {error, {translation_invalid_configuration, {?TARGET, Reason}}} =
                  translate([{Key, fast} | Base]),
              ?assertNotEqual(nomatch, string:find(Reason, Name)),
              ?assertNotEqual(nomatch, string:find(Reason, "fast"))
      end,
      [{["exhook", "drivers", "auth", "mode"], "exhook.drivers.auth.mode"},
       {["exhook", "drivers", "auth", "hook", "client_connect", "mode"],
        "exhook.drivers.auth.hook.client_connect.mode"}]).

transport_defaults_to_nif_and_is_always_emitted_after_path_and_kind(_) ->
    Base = [{["exhook", "drivers"], "auth"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"}],
    %% Unset, with or without cuttlefish's defaults added, or set to nif
    %% (as conf text through the enum datatype): always there, third.
    [begin
         {set, [{auth, Opts}]} = translate(Conf),
         ?assertMatch([{path, _}, {kind, native}, {transport, nif} | _], Opts, Conf),
         ?assertEqual([{transport, nif}], [KV || {transport, _} = KV <- Opts])
     end || Conf <- [Base,
                     add_defaults(Base),
                     add_defaults(convert_conf(
                                    Base ++ [{["exhook", "drivers", "auth", "transport"],
                                              "nif"}]))]],
    %% Before init_module when that is set; the other keys keep their order.
    {set, [{auth, WithModule}]} =
        translate([{["exhook", "drivers", "auth", "init_module"], "auth"} | Base]),
    ?assertEqual([path, kind, transport, init_module, call_timeout, pool_size, pool_max,
                  queue_capacity, failed_action, optional],
                 [K || {K, _} <- WithModule]).

transport_port_is_emitted(_) ->
    Text = [{["exhook", "drivers"], "auth, audit"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"},
            {["exhook", "drivers", "auth", "transport"], "port"},
            {["exhook", "drivers", "auth", "pool_size"], "2"},
            {["exhook", "drivers", "audit", "path"], "/x/libaudit.so"}],
    {set, [{auth, Auth}, {audit, Audit}]} = translate(add_defaults(convert_conf(Text))),
    ?assertEqual([{path, "/x/libauth.so"},
                  {kind, native},
                  {transport, port},
                  {call_timeout, 5000},
                  {pool_size, 2},
                  {pool_max, 64},
                  {queue_capacity, 1024},
                  {failed_action, deny},
                  {optional, false}], Auth),
    %% Another driver's transport is its own.
    ?assertEqual(nif, proplists:get_value(transport, Audit)),
    %% path may name any executable speaking the protocol: the schema
    %% takes any path.
    {set, [{auth, Exe}, _]} =
        translate(add_defaults(convert_conf(
                                 lists:keystore(["exhook", "drivers", "auth", "path"], 1, Text,
                                                {["exhook", "drivers", "auth", "path"],
                                                 "/opt/handlers/auth-port"})))),
    ?assertEqual([{path, "/opt/handlers/auth-port"}, {kind, native}, {transport, port}],
                 lists:sublist(Exe, 3)),
    %% The modes are ignored with port by the plugin, not dropped here:
    %% the env is what the conf says.
    {set, [{auth, WithModes}, _]} =
        translate(add_defaults(convert_conf(
                                 Text ++ [{["exhook", "drivers", "auth", "mode"], "inline"},
                                          {["exhook", "drivers", "auth", "hook",
                                            "client_check_acl", "mode"], "dirty_io"}]))),
    ?assertEqual(port, proplists:get_value(transport, WithModes)),
    ?assertEqual(inline, proplists:get_value(mode, WithModes)),
    ?assertEqual([{client_check_acl, dirty_io}], proplists:get_value(modes, WithModes)).

invalid_transport_value_is_rejected(_) ->
    %% As the modes (invalid_mode_value_is_rejected): the enum datatype
    %% refuses the conf text before any translation runs.
    Key = ["exhook", "drivers", "auth", "transport"],
    {ok, {mapping, "exhook.drivers.$name.transport", _, Attrs}} = find_mapping(Key),
    DT = proplists:get_value(datatype, Attrs),
    ?assertEqual(?TRANSPORT_DT, DT),
    [?assertEqual({ok, list_to_atom(T)}, convert(T, DT)) || T <- ["nif", "port"]],
    [?assertMatch({error, _}, convert(Bad, DT), Bad)
     || Bad <- ["pipe", "NIF", "Port", "ports", "", "pool", "inline", "deny"]],
    %% A translation given a value no enum would give refuses it too,
    %% naming the key and the value.
    Base = [{["exhook", "drivers"], "auth"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"}],
    lists:foreach(
      fun(Bad) ->
              {error, {translation_invalid_configuration, {?TARGET, Reason}}} =
                  translate([{Key, Bad} | Base]),
              ct:log("~ts", [Reason]),
              ?assert(io_lib:printable_list(Reason)),
              ?assertNotEqual(nomatch, string:find(Reason, "exhook.drivers.auth.transport")),
              ?assertNotEqual(nomatch, string:find(Reason, "pipe"))
      end,
      [pipe, "pipe"]),
    %% An unlisted driver's transport is not checked, as its other keys.
    ?assertMatch({set, [{auth, _}]},
                 translate([{["exhook", "drivers", "spare", "transport"], pipe} | Base])).

queue_capacity_defaults_to_1024_and_takes_a_custom_value(_) ->
    Base = [{["exhook", "drivers"], "auth"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"}],
    Capacity = fun(Conf) ->
                       {set, [{auth, Opts}]} = translate(Conf),
                       proplists:get_value(queue_capacity, Opts)
               end,
    ?assertEqual(1024, Capacity(Base)),
    ?assertEqual(1024, Capacity(add_defaults(Base))),
    ?assertEqual(1, Capacity([{["exhook", "drivers", "auth", "queue_capacity"], 1} | Base])),
    ?assertEqual(65536, Capacity(add_defaults(convert_conf(
                                                Base ++
                                                    [{["exhook", "drivers", "auth",
                                                       "queue_capacity"], "65536"}])))).

pool_max_defaults_to_64_and_takes_a_custom_value(_) ->
    Base = [{["exhook", "drivers"], "auth"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"}],
    Max = fun(Conf) ->
                  {set, [{auth, Opts}]} = translate(Conf),
                  proplists:get_value(pool_max, Opts)
          end,
    ?assertEqual(64, Max(Base)),
    ?assertEqual(64, Max(add_defaults(Base))),
    ?assertEqual(256, Max(add_defaults(convert_conf(
                                         Base ++ [{["exhook", "drivers", "auth", "pool_max"],
                                                   "256"}])))),
    %% The plugin's config takes it as it is, and defaults it the same.
    {set, [{auth, Raw}]} = translate(Base),
    ?assertMatch({ok, #{pool_max := 64}}, emqx_extension_hook_config:parse(<<"auth">>, Raw, 0)),
    ?assertMatch({ok, #{pool_max := 64}},
                 emqx_extension_hook_config:parse(<<"auth">>, lists:keydelete(pool_max, 1, Raw), 0)),
    ?assertMatch({error, {invalid, pool_max, 0}},
                 emqx_extension_hook_config:parse(<<"auth">>, [{pool_max, 0} | Raw], 0)).

pool_size_defaults_to_8_and_to_one_jvm_for_java(_) ->
    Size = fun(Name, Extra) ->
                   Conf = [{["exhook", "drivers"], Name},
                           {["exhook", "drivers", Name, "path"], "/x/handlers"} | Extra],
                   {set, [{_, Opts}]} = translate(add_defaults(Conf)),
                   proplists:get_value(pool_size, Opts)
           end,
    ?assertEqual(8, Size("auth", [])),
    ?assertEqual(8, Size("python3", [])),
    ?assertEqual(1, Size("java", [])),
    ?assertEqual(1, Size("audit", [{["exhook", "drivers", "audit", "kind"], "java"}])),
    ?assertEqual(3, Size("java", [{["exhook", "drivers", "java", "pool_size"], 3}])),
    %% The plugin's config defaults it the same.
    ?assertMatch({ok, #{pool_size := 1}},
                 emqx_extension_hook_config:parse(<<"java">>, [{path, "/x/handlers"}], 0)),
    ?assertMatch({ok, #{pool_size := 8}},
                 emqx_extension_hook_config:parse(<<"auth">>, [{path, "/x/libauth.so"}], 0)).

configured_but_unlisted_driver_is_not_enabled(_) ->
    Conf = [{["exhook", "drivers"], "auth"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"},
            {["exhook", "drivers", "spare", "path"], "/x/libspare.so"},
            {["exhook", "drivers", "spare", "init_module"], "spare"}],
    ?assertMatch({set, [{auth, _}]}, translate(add_defaults(Conf))),
    %% Configured, nothing listed: nothing enabled.
    ?assertEqual({set, []}, translate(add_defaults(tl(Conf)))).

%% A Python module or Java class name is no Erlang module: the text stays
%% text, and no atom is made of it.
init_module_stays_text(_) ->
    Conf = [{["exhook", "drivers"], "custom"},
            {["exhook", "drivers", "custom", "path"], "priv/libemqx_example_custom_hook.so"},
            {["exhook", "drivers", "custom", "init_module"], "emqx_example_custom_hook"}],
    {set, [{custom, Opts}]} = translate(Conf),
    ?assertEqual("emqx_example_custom_hook", proplists:get_value(init_module, Opts)).

kind_defaults_from_the_name_and_java_defaults_to_port(_) ->
    Conf = [{["exhook", "drivers"], "python3, java, auth, py"},
            {["exhook", "drivers", "python3", "path"], "data/extension/"},
            {["exhook", "drivers", "java", "path"], "data/java/"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"},
            {["exhook", "drivers", "py", "path"], "data/py/"},
            {["exhook", "drivers", "py", "kind"], "python3"}],
    {set, [{python3, Py}, {java, Java}, {auth, Auth}, {py, Py2}]} = translate(add_defaults(Conf)),
    ?assertEqual({python3, nif}, {proplists:get_value(kind, Py), proplists:get_value(transport, Py)}),
    ?assertEqual({java, port}, {proplists:get_value(kind, Java),
                                proplists:get_value(transport, Java)}),
    ?assertEqual({native, nif}, {proplists:get_value(kind, Auth),
                                 proplists:get_value(transport, Auth)}),
    ?assertEqual(python3, proplists:get_value(kind, Py2)),
    %% python2 (by name or key) and unknown kinds reach the plugin, which
    %% says why it refuses them when it starts.
    {set, [{python2, Py2Env}]} = translate([{["exhook", "drivers"], "python2"},
                                            {["exhook", "drivers", "python2", "path"], "d/"}]),
    ?assertEqual(native, proplists:get_value(kind, Py2Env)),
    {set, [{x, XEnv}]} = translate([{["exhook", "drivers"], "x"},
                                    {["exhook", "drivers", "x", "path"], "d/"},
                                    {["exhook", "drivers", "x", "kind"], "python2"}]),
    ?assertEqual("python2", proplists:get_value(kind, XEnv)).

python3_path_defaults_to_data_extension(_) ->
    {set, [{python3, Opts}]} = translate([{["exhook", "drivers"], "python3"},
                                          {["exhook", "drivers", "python3", "init_module"],
                                           "hooks"}]),
    ?assertEqual("data/extension/", proplists:get_value(path, Opts)),
    ?assertEqual("hooks", proplists:get_value(init_module, Opts)).

optional_venv_java_and_jvm_args_are_emitted_when_set(_) ->
    Base = [{["exhook", "drivers"], "py"},
            {["exhook", "drivers", "py", "path"], "data/py/"},
            {["exhook", "drivers", "py", "kind"], "python3"}],
    {set, [{py, Plain}]} = translate(add_defaults(Base)),
    ?assertEqual([], [K || {K, _} <- Plain, lists:member(K, [venv, java, jvm_args])]),
    {set, [{py, Set}]} =
        translate(add_defaults(convert_conf(
                                 Base ++ [{["exhook", "drivers", "py", "venv"], "/opt/venv"},
                                          {["exhook", "drivers", "py", "optional"], "true"},
                                          {["exhook", "drivers", "py", "java"], "/usr/bin/java"},
                                          {["exhook", "drivers", "py", "jvm_args"], "-Xmx64m"}]))),
    ?assertEqual({"/opt/venv", true, "/usr/bin/java", "-Xmx64m"},
                 {proplists:get_value(venv, Set), proplists:get_value(optional, Set),
                  proplists:get_value(java, Set), proplists:get_value(jvm_args, Set)}).

handler_settings_are_emitted_sorted_by_key(_) ->
    Text = [{["exhook", "drivers"], "db, other"},
            {["exhook", "drivers", "db", "path"], "/x/libdb.so"},
            {["exhook", "drivers", "db", "handler", "database_url"], "postgres://u@h/db"},
            {["exhook", "drivers", "db", "handler", "acl_refresh"], "5s"},
            {["exhook", "drivers", "other", "path"], "/x/libother.so"},
            {["exhook", "drivers", "spare", "handler", "x"], "y"}],
    {set, [{db, Db}, {other, Other}]} = translate(add_defaults(convert_conf(Text))),
    ?assertEqual([{"acl_refresh", "5s"}, {"database_url", "postgres://u@h/db"}],
                 proplists:get_value(handler, Db)),
    ?assertEqual(undefined, proplists:get_value(handler, Other)),
    {ok, {mapping, Var, _, _}} = find_mapping(["exhook", "drivers", "db", "handler", "x"]),
    ?assertEqual("exhook.drivers.$name.handler.$key", Var).

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

non_positive_call_timeout_pool_size_pool_max_or_queue_capacity_is_invalid(_) ->
    Base = [{["exhook", "drivers"], "auth"},
            {["exhook", "drivers", "auth", "path"], "/x/libauth.so"}],
    lists:foreach(
      fun({Key, Value}) ->
              {error, {translation_invalid_configuration, {?TARGET, Reason}}} =
                  translate([{["exhook", "drivers", "auth", Key], Value} | Base]),
              ?assertNotEqual(nomatch, string:find(Reason, "exhook.drivers.auth." ++ Key))
      end,
      [{"call_timeout", 0}, {"pool_size", 0}, {"pool_size", -1}, {"pool_max", 0},
       {"pool_max", -1}, {"queue_capacity", 0}, {"queue_capacity", -1}]).

every_driver_key_of_conf_file_has_a_mapping(_) ->
    Patterns = [string:split(V, ".", all) || {mapping, V, _, _} <- schema()],
    Keys = [K || {K, _} <- conf_file(all)],
    DriverKeys = [K || ["exhook", "drivers" | _] = K <- Keys],
    %% The file documents the list and every key of a driver, the
    %% per-hook mode included.
    ?assert(lists:member(["exhook", "drivers"], DriverKeys)),
    ?assertEqual(["call_timeout", "failed_action", "init_module", "kind", "mode", "optional",
                  "path", "pool_max", "pool_size", "queue_capacity", "transport"],
                 lists:usort([Key || ["exhook", "drivers", "custom", Key] <- DriverKeys])),
    ?assertEqual([["exhook", "drivers", "custom", "hook", "client_check_acl", "mode"]],
                 [K || ["exhook", "drivers", "custom", "hook" | _] = K <- DriverKeys]),
    ?assertEqual(Keys, DriverKeys),
    [?assert(lists:any(fun(P) -> matches(K, P) end, Patterns), K) || K <- Keys],
    %% ... and exactly one, as cuttlefish_generator:find_mapping/2 needs.
    [?assertMatch({ok, _}, find_mapping(K), K) || K <- Keys].

default_conf_file_enables_no_driver(_) ->
    ?assertEqual([], conf_file(active)),
    ?assertEqual({set, []}, translate(add_defaults(convert_conf(conf_file(active))))).

conf_file_examples_give_env_the_config_module_accepts(_) ->
    %% Every commented-out setting uncommented; the last `exhook.drivers'
    %% line (two drivers) wins, as a later line does in cuttlefish. Driver
    %% `sandboxed' is configured but not listed there: not enabled.
    Examples = conf_file(commented),
    ?assertEqual("gatekeeper, custom", proplists:get_value(["exhook", "drivers"],
                                                           lists:reverse(Examples))),
    Conf = add_defaults(convert_conf(Examples)),
    {set, Env} = translate(Conf),
    ?assertEqual([{gatekeeper, [{path, "etc/plugins/emqx_extension_hook/priv/"
                                       "libemqx_example_gatekeeper.so"},
                                {kind, native},
                                {transport, nif},
                                {init_module, "emqx_example_gatekeeper"},
                                {call_timeout, 500},
                                {pool_size, 8},
                                {pool_max, 64},
                                {queue_capacity, 256},
                                {failed_action, ignore},
                                {optional, false},
                                {mode, inline}]},
                  {custom, [{path, "etc/plugins/emqx_extension_hook/priv/"
                                   "libemqx_example_custom_hook.so"},
                            {kind, native},
                            {transport, nif},
                            {init_module, "emqx_example_custom_hook"},
                            {call_timeout, 5000},
                            {pool_size, 8},
                            {pool_max, 64},
                            {queue_capacity, 1024},
                            {failed_action, deny},
                            {optional, false},
                            {mode, pool},
                            {modes, [{client_check_acl, inline}]}]}], Env),
    %% The example of transport = port: driver `sandboxed', the same
    %% library as `custom', enabled by its own `exhook.drivers' example.
    ?assert(lists:member({["exhook", "drivers"], "sandboxed"}, Examples)),
    {set, PortEnv} = translate(add_defaults(convert_conf(
                                              Examples ++ [{["exhook", "drivers"], "sandboxed"}]))),
    ?assertEqual([{sandboxed, [{path, "etc/plugins/emqx_extension_hook/priv/"
                                      "libemqx_example_custom_hook.so"},
                               {kind, native},
                               {transport, port},
                               {init_module, "emqx_example_custom_hook"},
                               {call_timeout, 1000},
                               {pool_size, 2},
                               {pool_max, 64},
                               {queue_capacity, 1024},
                               {failed_action, deny},
                               {optional, false}]}], PortEnv),
    %% The seed article's three lines, and the Java example.
    ?assert(lists:member({["exhook", "drivers"], "python3"}, Examples)),
    {set, [{python3, PyEnv}]} =
        translate(add_defaults(convert_conf(Examples ++ [{["exhook", "drivers"], "python3"}]))),
    ?assertEqual({"data/extension/", python3, nif, "hooks", "data/extension/venv"},
                 {proplists:get_value(path, PyEnv), proplists:get_value(kind, PyEnv),
                  proplists:get_value(transport, PyEnv), proplists:get_value(init_module, PyEnv),
                  proplists:get_value(venv, PyEnv)}),
    {set, [{java, JavaEnv}]} =
        translate(add_defaults(convert_conf(Examples ++ [{["exhook", "drivers"], "java"}]))),
    ?assertEqual({java, port, "Main", 2, "-Xmx256m"},
                 {proplists:get_value(kind, JavaEnv), proplists:get_value(transport, JavaEnv),
                  proplists:get_value(init_module, JavaEnv), proplists:get_value(pool_size, JavaEnv),
                  proplists:get_value(jvm_args, JavaEnv)}),
    %% The consumer of the env takes it as it is.
    lists:foldl(
      fun({Name, Raw}, Pos) ->
              {ok, Opts} = emqx_extension_hook_config:parse(atom_to_binary(Name, utf8), Raw, Pos),
              ?assertEqual(proplists:get_value(kind, Raw), maps:get(kind, Opts)),
              ?assertEqual(proplists:get_value(transport, Raw), maps:get(transport, Opts)),
              ?assertEqual(proplists:get_value(init_module, Raw), maps:get(init_module, Opts)),
              ?assertEqual(proplists:get_value(call_timeout, Raw), maps:get(call_timeout, Opts)),
              ?assertEqual(proplists:get_value(queue_capacity, Raw),
                           maps:get(queue_capacity, Opts, undefined)),
              ?assertEqual(proplists:get_value(pool_max, Raw), maps:get(pool_max, Opts, undefined)),
              ?assertEqual(proplists:get_value(mode, Raw), maps:get(mode, Opts, undefined)),
              ?assertEqual(length(proplists:get_value(modes, Raw, [])),
                           maps:size(maps:get(modes, Opts, #{}))),
              Pos + 1
      end, 0, Env ++ PortEnv ++ [{python3, PyEnv}]),
    %% The paths name the example libraries of priv/ (built by `make
    %% native') where the plugin directory puts them in a release.
    [begin
         ?assertEqual("etc/plugins/emqx_extension_hook/priv", filename:dirname(P)),
         ?assert(filelib:is_regular(filename:join([?ROOT, "erlang", "priv",
                                                   filename:basename(P)])))
     end || {_, Raw} <- Env ++ PortEnv, {path, P} <- Raw].

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

%% As cuttlefish_generator:add_defaults/2: the names are the first
%% binding ($name) of every conf key that matches a fuzzy mapping
%% (get_possible_values_for_fuzzy_matches/2, cuttlefish_variable:
%% fuzzy_matches/2); for each fuzzy mapping with a default and each name,
%% the default (converted by its datatype, as transform_datatypes/2 later
%% does) under the mapping's variable with every `$' word replaced by the
%% name (cuttlefish_variable:replace_match/2), unless that key is set. A
%% strict mapping's default is added when its key is not set. All fuzzy
%% mappings here share the prefix `exhook.drivers' (checked by
%% two_variable_mapping_has_no_default_and_adds_none).
add_defaults(Conf) ->
    Mappings = [{string:split(V, ".", all), Attrs} || {mapping, V, _, Attrs} <- schema()],
    Names = lists:usort([Name || {Var, _} <- Mappings, is_fuzzy(Var),
                                 {Key, _} <- Conf,
                                 [{_, Name} | _] <- [bindings(Var, Key)]]),
    Defaults = [{Key, Value}
                || {Var, Attrs} <- Mappings,
                   {default, Default} <- Attrs,
                   {ok, Value} <- [convert(Default, proplists:get_value(datatype, Attrs))],
                   Key <- case is_fuzzy(Var) of
                              true -> [replace_match(Var, N) || N <- Names];
                              false -> [Var]
                          end],
    Conf ++ [D || {K, _} = D <- Defaults, not lists:keymember(K, 1, Conf)].

is_fuzzy(Var) ->
    lists:any(fun("$" ++ _) -> true; (_) -> false end, Var).

%% As cuttlefish_variable:extract_first_match/2: the bindings of the `$'
%% words of variable `Var' in key `Key', in order, or nomatch.
bindings(Var, Key) when length(Var) =:= length(Key) ->
    bindings(Var, Key, []);
bindings(_, _) ->
    nomatch.

bindings([], [], Acc) -> lists:reverse(Acc);
bindings(["$" ++ _ = V | Var], [W | Key], Acc) -> bindings(Var, Key, [{V, W} | Acc]);
bindings([W | Var], [W | Key], Acc) -> bindings(Var, Key, Acc);
bindings(_, _, _) -> nomatch.

%% As cuttlefish_variable:replace_match/2: every `$' word becomes `Sub'.
replace_match(Var, Sub) ->
    [case W of "$" ++ _ -> Sub; _ -> W end || W <- Var].

%% As cuttlefish_generator:find_mapping/2: the mapping whose variable is
%% `Key', or else the one mapping that fuzzily matches it; error if none
%% or more than one.
find_mapping(Key) ->
    Mappings = [M || {mapping, _, _, _} = M <- schema()],
    Strict = [M || {mapping, V, _, _} = M <- Mappings, string:split(V, ".", all) =:= Key],
    Fuzzy = [M || {mapping, V, _, _} = M <- Mappings, matches(Key, string:split(V, ".", all))],
    case {Strict, Fuzzy} of
        {[M], _} -> {ok, M};
        {[], [M]} -> {ok, M};
        _ -> error
    end.

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
%% (words, each `$' word, `$name' or `$hook', matching any one word), as
%% cuttlefish_variable:is_fuzzy_match/2.
matches(Key, Var) when length(Key) =:= length(Var) ->
    lists:all(fun({K, "$" ++ _}) -> K =/= "";
                 ({K, V}) -> K =:= V
              end, lists:zip(Key, Var));
matches(_, _) ->
    false.
