%% The directory `make plugin' assembles is what EMQX 4.4 expects in
%% etc/plugins/emqx_extension_hook/, and a plain `erl' with only its ebin
%% on the code path runs the plugin from it.
-module(emqx_extension_hook_plugin_dir_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").
-include_lib("kernel/include/file.hrl").

-compile([export_all, nowarn_export_all]).

all() ->
    [layout_is_what_emqx_loads, plain_erl_starts_the_plugin_and_decides_a_login,
     the_articles_three_lines_and_hooks_py_decide_logins].

init_per_suite(Config) ->
    Root = exhook_samples:root(),
    AppBuild = code:lib_dir(emqx_extension_hook),
    Out = os:cmd("make -s -C " ++ Root ++ " plugin-dir APP_BUILD=" ++ AppBuild ++ " 2>&1; echo rc=$?"),
    ?assertNotEqual(nomatch, string:find(Out, "rc=0"), Out),
    [{plugin_dir, filename:join([Root, "_build", "plugin", "emqx_extension_hook"])} | Config].

end_per_suite(_Config) ->
    ok.

layout_is_what_emqx_loads(Config) ->
    Dir = ?config(plugin_dir, Config),
    Ebin = filename:join(Dir, "ebin"),
    ?assertEqual(["emqx_extension_hook.app"], [filename:basename(F) || F <- filelib:wildcard(Ebin ++ "/*.app")]),
    ?assert(filelib:is_regular(filename:join([Dir, "priv", "emqx_extension_hook.schema"]))),
    ?assert(filelib:is_regular(filename:join([Dir, "priv", "libemqx_example_custom_hook.so"]))),
    %% The python3 driver's library.
    ?assert(filelib:is_regular(filename:join([Dir, "priv", "libemqx_extension_hook_python.so"]))),
    %% The Port transport's launcher, executable.
    {ok, #file_info{mode = Mode}} = file:read_file_info(filename:join([Dir, "priv", "emqx_exhook_port"])),
    ?assertNotEqual(0, Mode band 8#111),
    %% The Java SDK and JVM driver: all a java driver needs besides a JVM.
    ?assert(filelib:is_regular(filename:join([Dir, "priv", "emqx-extension-java.jar"]))),
    ?assert(filelib:is_regular(filename:join([Dir, "etc", "emqx_extension_hook.conf"]))),
    %% Every module the .app names is there, and one carries -emqx_plugin.
    {ok, [{application, emqx_extension_hook, App}]} =
        file:consult(filename:join(Ebin, "emqx_extension_hook.app")),
    Modules = proplists:get_value(modules, App),
    [?assert(filelib:is_regular(filename:join(Ebin, atom_to_list(M) ++ ".beam"))) || M <- Modules],
    Plugins = [M || M <- Modules,
                    {ok, {_, [{attributes, Attrs}]}} <-
                        [beam_lib:chunks(filename:join(Ebin, atom_to_list(M) ++ ".beam"), [attributes])],
                    lists:keymember(emqx_plugin, 1, Attrs)],
    ?assertEqual([emqx_extension_hook_app], Plugins),
    %% Only OTP applications the EMQX release ships.
    Deps = proplists:get_value(applications, App),
    ?assertEqual([], Deps -- [kernel, stdlib, sasl, crypto, public_key, asn1, syntax_tools, ssl,
                              os_mon, inets, compiler, runtime_tools, mnesia, xmerl, tools, observer]).

plain_erl_starts_the_plugin_and_decides_a_login(Config) ->
    Dir = ?config(plugin_dir, Config),
    [ClientInfo, Acc] = exhook_samples:args('client.authenticate'),
    Script = lists:flatten(io_lib:format(
      "ok = application:load(emqx_extension_hook),"
      "Lib = filename:join(code:priv_dir(emqx_extension_hook), \"libemqx_example_custom_hook.so\"),"
      "ok = application:set_env(emqx_extension_hook, drivers, [{custom, [{path, Lib}]}]),"
      "{ok, _} = application:ensure_all_started(emqx_extension_hook),"
      "{ok, Callbacks} = emqx_extension_hook:callbacks(custom),"
      "{_, {M, F, A}} = lists:keyfind('client.authenticate', 1, Callbacks),"
      "io:format(\"RESULT ~~0p~~n\", [apply(M, F, [~0p, ~0p | A])]).",
      [ClientInfo, Acc])),
    ScriptFile = filename:join(?config(priv_dir, Config), "decide_login.script"),
    ok = file:write_file(ScriptFile, Script),
    Erl = os:find_executable("erl"),
    Cmd = io_lib:format("~ts -noshell -pa ~ts -eval 'file:script(\"~ts\"), halt().' 2>&1",
                        [Erl, filename:join(Dir, "ebin"), ScriptFile]),
    Out = os:cmd(lists:flatten(Cmd)),
    ct:log("~ts", [Out]),
    ?assertNotEqual(nomatch,
                    string:find(Out, "RESULT {stop,#{anonymous => false,auth_result => success,"
                                     "is_superuser => false}}"), Out).

%% The seed article's setup, in a release root of its own: hooks.py in
%% data/extension/, the PyPI SDK pip-installed into a virtual environment
%% there (data/extension/venv: the one scripts/python-venv.sh made), and
%% only the article's three config lines:
%%   exhook.drivers = python3
%%   exhook.drivers.python3.path = data/extension/
%%   exhook.drivers.python3.init_module = hooks
%% A plain `erl' started in that root with only the plugin's ebin decides
%% logins and ACL checks with the article's CustomHook.
the_articles_three_lines_and_hooks_py_decide_logins(Config) ->
    Dir = ?config(plugin_dir, Config),
    Root = exhook_samples:root(),
    Release = filename:join(?config(priv_dir, Config), "release"),
    Extension = filename:join([Release, "data", "extension"]),
    ok = filelib:ensure_dir(filename:join(Extension, "x")),
    {ok, _} = file:copy(filename:join(Root, "native/python/tests/fixtures/custom_hook/hooks.py"),
                        filename:join(Extension, "hooks.py")),
    Out0 = os:cmd(filename:join([Root, "scripts", "python-venv.sh"]) ++ " 2>&1; echo rc=$?"),
    ?assertNotEqual(nomatch, string:find(Out0, "rc=0"), Out0),
    ok = file:make_symlink(filename:join([Root, "_build", "pyvenv"]), filename:join(Extension, "venv")),
    [ClientInfo, Acc] = exhook_samples:args('client.authenticate'),
    Script = lists:flatten(io_lib:format(
      "ok = application:load(emqx_extension_hook),"
      "ok = application:set_env(emqx_extension_hook, drivers,"
      "                         [{python3, [{path, \"data/extension/\"}, {init_module, \"hooks\"}]}]),"
      "{ok, _} = application:ensure_all_started(emqx_extension_hook),"
      "{ok, Callbacks} = emqx_extension_hook:callbacks(python3),"
      "{_, {M, F, A}} = lists:keyfind('client.authenticate', 1, Callbacks),"
      "{_, {AM, AF, AA}} = lists:keyfind('client.check_acl', 1, Callbacks),"
      "C = ~0p,"
      "io:format(\"LOGIN ~~0p~~n\", [apply(M, F, [C, ~0p | A])]),"
      "io:format(\"NAMELESS ~~0p~~n\", [apply(M, F, [C#{clientid => <<>>}, ~0p | A])]),"
      "io:format(\"ACL ~~0p~~n\", [apply(AM, AF, [C#{username => undefined}, publish, <<\"t\">>, allow | AA])]).",
      [ClientInfo, Acc, Acc])),
    ScriptFile = filename:join(?config(priv_dir, Config), "article.script"),
    ok = file:write_file(ScriptFile, Script),
    Erl = os:find_executable("erl"),
    Cmd = io_lib:format("cd ~ts && ~ts -noshell -pa ~ts -eval 'file:script(\"~ts\"), halt().' 2>&1",
                        [Release, Erl, filename:join(Dir, "ebin"), ScriptFile]),
    Out = os:cmd(lists:flatten(Cmd)),
    ct:log("~ts", [Out]),
    [?assertNotEqual(nomatch, string:find(Out, Expected), {Expected, Out})
     || Expected <- ["LOGIN {stop,#{anonymous => false,auth_result => success,is_superuser => false}}",
                     "NAMELESS {stop,#{anonymous => false,auth_result => not_authorized,is_superuser => false}}",
                     "ACL {stop,deny}"]].
