%% The real hook arguments captured in EMQX 4.4.19 (the SDK's
%% samples/emqx-4.4.19-hook-samples.txt, which its test kit reads too), and
%% paths into the repository.
-module(exhook_samples).

-export([all/0, args/1, root/0, library/1, client_info/0, message/0, compile_java_fixture/2]).

%% Every sample: `[{HookPoint, Args}]', accumulator last for fold hooks.
%% Read once per VM: stress cases build thousands of events from them.
all() ->
    case persistent_term:get(?MODULE, undefined) of
        undefined ->
            {ok, Samples} = file:consult(filename:join([root(), "native", "emqx-extension-sdk", "samples",
                                                        "emqx-4.4.19-hook-samples.txt"])),
            persistent_term:put(?MODULE, Samples),
            Samples;
        Samples ->
            Samples
    end.

args(Point) ->
    {Point, Args} = lists:keyfind(Point, 1, all()),
    Args.

%% The ClientInfo of the client.check_acl sample (after authentication).
client_info() ->
    hd(args('client.check_acl')).

%% The message of the message.publish sample.
message() ->
    hd(args('message.publish')).

%% The repository root, found from this module's source path.
root() ->
    Source = proplists:get_value(source, ?MODULE:module_info(compile)),
    find_root(filename:dirname(Source)).

find_root("/") -> error(repository_root_not_found);
find_root(Dir) ->
    case filelib:is_regular(filename:join(Dir, "rebar.config"))
        andalso filelib:is_dir(filename:join(Dir, "native")) of
        true -> Dir;
        false -> find_root(filename:dirname(Dir))
    end.

%% A handler library built by the Rust workspace (release profile).
library(Name) ->
    filename:join([root(), "target", "release", "lib" ++ atom_to_list(Name) ++ ".so"]).

%% Compiles the test handler tests/fixtures/java/`Class'.java against the
%% SDK jar into directory `Dir' (made here), for a java driver's `path'.
compile_java_fixture(Class, Dir) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Source = filename:join([root(), "tests", "fixtures", "java", Class ++ ".java"]),
    Out = os:cmd(lists:flatten(
                   [os:find_executable("javac"), " -Xlint:all -Werror -cp ",
                    emqx_extension_hook_java:sdk_jar(), " -d ", Dir, " ", Source, " 2>&1; echo rc=$?"])),
    case string:find(Out, "rc=0") of
        nomatch -> error({javac_failed, Class, Out});
        _ -> Dir
    end.
