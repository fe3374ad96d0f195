%% @doc Handler library files: what the file at a driver's `path' is, and
%% the private copies the VM loads.
%%
%% Before anything of a library runs in the broker's VM, the plugin's
%% launcher (`priv/emqx_exhook_port --probe') loads it in a process of its
%% own and says what it is: a missing file, a file that is not a shared
%% library, a shared library that is not a handler library, a library
%% built for another version of the SDK, or a handler library and the
%% module name it was built with. A library whose load-time code crashes
%% takes only that process down.
%%
%% Each instance of a driver is loaded from a private copy, so that a
%% rebuilt library at `path' is picked up by the next enable or reload and
%% a mapped file is never written over. The copies live in a directory only
%% the broker's user can write (mode 0700, its owner and mode checked
%% before each use): under the release's `data/', or `$TMPDIR' (`/tmp')
%% outside a release; the application env `library_dir' overrides it.
-module(emqx_extension_hook_library).

-include_lib("kernel/include/file.hrl").

-export([probe/1, private_copy/2, private_dir/0, launcher/0]).

%% The interface version this plugin loads (the SDK's LIBRARY_ABI).
-define(ABI, 2).
-define(PROBE_TIMEOUT_MS, 15000).

%% @doc What the file at `Path' is: `{ok, BuiltFor}' for a handler library
%% built with `export_handler!(_, BuiltFor)'.
-spec probe(string()) -> {ok, binary()} | {error, term()}.
probe(Path) ->
    case file:read_file_info(Path) of
        {ok, #file_info{type = regular}} -> run_probe(Path);
        {ok, #file_info{type = Type}} -> {error, {library_not_a_file, Path, Type}};
        {error, enoent} -> {error, {library_missing, Path}};
        {error, Reason} -> {error, {library_unreadable, Path, Reason}}
    end.

run_probe(Path) ->
    Port = open_port({spawn_executable, launcher()},
                     [{args, ["--probe", Path]}, binary, exit_status, {line, 4096}]),
    collect_probe(Port, Path, []).

collect_probe(Port, Path, Lines) ->
    receive
        {Port, {data, {eol, Line}}} -> collect_probe(Port, Path, [Line | Lines]);
        {Port, {data, {noeol, Part}}} -> collect_probe(Port, Path, [Part | Lines]);
        {Port, {exit_status, 0}} -> probed(Path, lists:reverse(Lines));
        {Port, {exit_status, Status}} -> {error, {library_crashed, Path, Status}}
    after ?PROBE_TIMEOUT_MS ->
        catch port_close(Port),
        {error, {library_probe_timeout, Path}}
    end.

probed(Path, [<<"ok emqx-extension-sdk ", Info/binary>> | _]) ->
    Expected = integer_to_binary(?ABI),
    case binary:split(Info, <<" ">>) of
        [Expected, BuiltFor] -> {ok, BuiltFor};
        [Abi, _] -> {error, {library_abi, Path, Abi, ?ABI}};
        _ -> {error, {library_probe, Path, Info}}
    end;
probed(Path, [<<"error not_loadable ", Why/binary>> | _]) ->
    {error, {not_a_library, Path, Why}};
probed(Path, [<<"error not_a_handler", _/binary>> | _]) ->
    {error, {not_a_handler_library, Path}};
probed(Path, [<<"error old_sdk", _/binary>> | _]) ->
    {error, {library_abi, Path, <<"1">>, ?ABI}};
probed(Path, Other) ->
    {error, {library_probe, Path, iolist_to_binary(lists:join(<<"\n">>, Other))}}.

%% @doc The plugin's launcher, which serves a library over the Port
%% transport and probes libraries.
-spec launcher() -> string().
launcher() ->
    filename:join(code:priv_dir(emqx_extension_hook), "emqx_exhook_port").

%% @doc A private copy of the library at `Path', named so that the SDK
%% binds it to `Module' (`<unique>@<Module>.so'). The caller deletes it
%% once loaded (the mapping stays).
-spec private_copy(string(), module()) -> {ok, string()} | {error, term()}.
private_copy(Path, Module) ->
    case private_dir() of
        {ok, Dir} ->
            remove_stale_copies(Dir),
            Name = lists:flatten([os:getpid(), "-", integer_to_list(erlang:unique_integer([positive])),
                                  "@", atom_to_list(Module), ".so"]),
            Copy = filename:join(Dir, Name),
            case file:read_file(Path) of
                {ok, Bin} ->
                    case file:write_file(Copy, Bin, [exclusive, raw]) of
                        ok -> {ok, Copy};
                        {error, Reason} -> {error, {copy_library, Copy, Reason}}
                    end;
                {error, enoent} ->
                    {error, {library_missing, Path}};
                {error, Reason} ->
                    {error, {library_unreadable, Path, Reason}}
            end;
        {error, _} = E ->
            E
    end.

%% Copies a VM left behind when it died (a Port transport's processes keep
%% theirs for the instance's life): named after an OS process that is gone.
remove_stale_copies(Dir) ->
    Own = os:getpid(),
    _ = [file:delete(filename:join(Dir, File))
         || File <- filelib:wildcard("*-*@*.so", Dir),
            [Pid | _] <- [string:split(File, "-")],
            Pid =/= Own, not filelib:is_dir("/proc/" ++ Pid)],
    ok.

%% @doc The directory of the private copies, created if missing, and
%% checked: a directory (not a link) owned by this OS user, which no one
%% else can write.
-spec private_dir() -> {ok, string()} | {error, term()}.
private_dir() ->
    Dir = case application:get_env(emqx_extension_hook, library_dir) of
              {ok, D} -> D;
              undefined -> default_dir()
          end,
    case file:make_dir(Dir) of
        ok ->
            case file:change_mode(Dir, 8#700) of
                ok -> check_private(Dir);
                {error, Reason} -> {error, {library_dir, Dir, Reason}}
            end;
        {error, eexist} ->
            check_private(Dir);
        {error, Reason} ->
            {error, {library_dir, Dir, Reason}}
    end.

default_dir() ->
    case filelib:is_dir("data") of
        true -> filename:absname("data/emqx_extension_hook");
        false -> filename:join(tmp_dir(), "emqx_extension_hook-" ++ integer_to_list(uid()))
    end.

tmp_dir() ->
    case os:getenv("TMPDIR") of
        false -> "/tmp";
        "" -> "/tmp";
        Dir -> Dir
    end.

check_private(Dir) ->
    Uid = uid(),
    case file:read_link_info(Dir) of
        {ok, #file_info{type = directory, uid = Uid, mode = Mode}} when Mode band 8#022 =:= 0 ->
            {ok, Dir};
        {ok, #file_info{type = directory, uid = Uid, mode = Mode}} ->
            {error, {library_dir_mode, Dir, Mode band 8#777}};
        {ok, #file_info{type = directory, uid = Other}} ->
            {error, {library_dir_owner, Dir, Other, Uid}};
        {ok, #file_info{type = Type}} ->
            {error, {library_dir_type, Dir, Type}};
        {error, Reason} ->
            {error, {library_dir, Dir, Reason}}
    end.

%% This OS process's user: the owner of its /proc entry.
uid() ->
    {ok, #file_info{uid = Uid}} = file:read_file_info("/proc/self"),
    Uid.
