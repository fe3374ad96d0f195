%% @doc The command line of a `java' driver: the JVM that serves a Java
%% handler over the Port transport (`io.emqx.extension.driver.PortDriver' in
%% the SDK jar, `priv/emqx-extension-java.jar').
%%
%% ```
%% {ok, Exe, Args} = emqx_extension_hook_java:command(#{path => "data/extension",
%%                                                      init_module => "SampleHandler"}),
%% Port = open_port({spawn_executable, Exe}, [{args, Args}, {packet, 4}, binary, use_stdio]).
%% '''
%%
%% Options (a driver's options map; other keys are ignored):
%% <ul>
%% <li>`path': a directory, several separated by `:', or a list of them;
%%     each directory and every `.jar'/`.zip' in it go on the class path,
%%     relative paths taken from the node's working directory.</li>
%% <li>`init_module': the handler's class name (default `Main').</li>
%% <li>`java': the `java' executable (default `$JAVA_HOME/bin/java', else
%%     `java' on the PATH).</li>
%% <li>`jvm_args': extra JVM options, separated by spaces (no quoting).</li>
%% </ul>
-module(emqx_extension_hook_java).

-include_lib("kernel/include/file.hrl").

-export([command/1, sdk_jar/0]).

-define(MAIN_CLASS, "io.emqx.extension.driver.PortDriver").
-define(SDK_JAR, "emqx-extension-java.jar").
%% stdout carries the protocol: the JVM's own messages (unified logging
%% warnings, fatal error reports) must go to stderr, which the broker logs.
-define(JVM_DEFAULTS, ["-Xlog:disable", "-Xlog:all=warning:stderr:uptime,level,tags",
                       "-XX:+DisplayVMOutputToStderr"]).

-type error() :: {java_not_found, string()} | {not_a_directory, string()}
               | {invalid, atom(), term()} | {sdk_jar_missing, string()}.
-export_type([error/0]).

%% @doc The executable and arguments that start the JVM serving driver
%% options `Opts', or why they cannot be built.
-spec command(map()) -> {ok, string(), [string()]} | {error, error()}.
command(Opts) when is_map(Opts) ->
    try
        Java = java(maps:get(java, Opts, undefined)),
        Class = init_module(maps:get(init_module, Opts, "Main")),
        JvmArgs = jvm_args(maps:get(jvm_args, Opts, "")),
        ClassPath = [sdk_jar() | lists:append([dir_entries(D) || D <- dirs(maps:get(path, Opts, []))])],
        {ok, Java, ?JVM_DEFAULTS ++ JvmArgs
                   ++ ["-cp", lists:flatten(lists:join(":", ClassPath)), ?MAIN_CLASS, Class]}
    catch
        throw:Reason -> {error, Reason}
    end.

%% @doc The SDK jar in the application's priv directory.
-spec sdk_jar() -> string().
sdk_jar() ->
    Jar = case code:priv_dir(emqx_extension_hook) of
              {error, _} -> throw({sdk_jar_missing, ?SDK_JAR});
              Priv -> filename:absname(filename:join(Priv, ?SDK_JAR))
          end,
    case filelib:is_regular(Jar) of
        true -> Jar;
        false -> throw({sdk_jar_missing, Jar})
    end.

java(undefined) ->
    Home = case os:getenv("JAVA_HOME") of
               false -> false;
               "" -> false;
               Dir -> filename:join([Dir, "bin", "java"])
           end,
    case Home =/= false andalso is_executable(Home) of
        true -> Home;
        false ->
            case os:find_executable("java") of
                false -> throw({java_not_found, "neither $JAVA_HOME/bin/java nor java on the PATH"});
                Found -> Found
            end
    end;
java(Java) ->
    Name = text(java, Java),
    Found = case lists:member($/, Name) of
                true -> filename:absname(Name);
                false -> os:find_executable(Name)
            end,
    case Found =/= false andalso is_executable(Found) of
        true -> Found;
        false -> throw({java_not_found, Name})
    end.

is_executable(File) ->
    case file:read_file_info(File) of
        {ok, #file_info{type = regular, mode = Mode}} -> Mode band 8#111 =/= 0;
        {ok, _} -> false;
        {error, _} -> false
    end.

%% A Java binary name (`pkg.Outer$Inner'): anything else cannot be a class.
init_module(Module) ->
    Name = text(init_module, Module),
    Valid = Name =/= ""
        andalso lists:all(fun(C) -> C =:= $. orelse C =:= $_ orelse C =:= $$
                                        orelse (C >= $a andalso C =< $z)
                                        orelse (C >= $A andalso C =< $Z)
                                        orelse (C >= $0 andalso C =< $9)
                                        orelse C > 127
                          end, Name),
    case Valid of
        true -> Name;
        false -> throw({invalid, init_module, Module})
    end.

jvm_args(Args) ->
    string:lexemes(text(jvm_args, Args), " \t\n").

dirs(Path) when is_list(Path), Path =/= [], is_list(hd(Path)) orelse is_binary(hd(Path)) ->
    lists:append([dirs(P) || P <- Path]);
dirs(Path) ->
    string:lexemes(text(path, Path), ":").

%% The directory itself (classes) and its archives, in name order.
dir_entries(Dir) ->
    Abs = filename:absname(Dir),
    case filelib:is_dir(Abs) of
        true ->
            Archives = filelib:wildcard("*.{jar,zip}", Abs),
            [Abs | [filename:join(Abs, A) || A <- lists:sort(Archives)]];
        false ->
            throw({not_a_directory, Abs})
    end.

text(_Key, V) when is_binary(V) -> unicode:characters_to_list(V);
text(_Key, V) when is_atom(V) -> atom_to_list(V);
text(Key, V) when is_list(V) ->
    case io_lib:printable_unicode_list(V) of
        true -> V;
        false -> throw({invalid, Key, V})
    end;
text(Key, V) -> throw({invalid, Key, V}).
