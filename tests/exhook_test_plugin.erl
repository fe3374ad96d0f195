%% Starting the plugin with a given driver config, and reading what the
%% recorder handler (native/tests/recorder) wrote, for the suites.
-module(exhook_test_plugin).

-export([start/1, stop/0, sync_hooks/0, custom/0, gate/0, recorder/2,
         recorded/1, await_recorded/2, points_with_callbacks/0, stats/2,
         set_transport/1, transport/0, library_released/1, mapped_library_copies/0,
         await_mapped_library_copies/1, await_stats/3, install_library/2]).

-define(APP, emqx_extension_hook).

%% Restarts the plugin with application env `drivers' = `Drivers'.
start(Drivers) ->
    stop(),
    case application:load(?APP) of
        ok -> ok;
        {error, {already_loaded, ?APP}} -> ok
    end,
    ok = application:set_env(?APP, drivers, Drivers),
    {ok, _} = application:ensure_all_started(?APP),
    ok.

stop() ->
    _ = application:stop(?APP),
    sync_hooks().

%% `emqx_hooks:del/2' is a cast, as in EMQX; a call orders after it.
sync_hooks() ->
    _ = sys:get_state(emqx_hooks),
    ok.

%% The transport the drivers below use: `nif' (the default), `port', or
%% `java' (the examples' Java twins).
set_transport(Transport) ->
    persistent_term:put({?MODULE, transport}, Transport).

transport() ->
    persistent_term:get({?MODULE, transport}, nif).

%% With transport `java', the examples' Java twins (java/examples), which
%% must answer as the Rust ones do.
custom() ->
    example(custom, emqx_example_custom_hook, "SampleHandler").

gate() ->
    example(gate, emqx_example_gatekeeper, "Gatekeeper").

example(Name, Library, Class) ->
    case transport() of
        java -> {Name, [{kind, java}, {path, java_examples()}, {init_module, Class}]};
        T -> {Name, [{path, exhook_samples:library(Library)}, {transport, T}]}
    end.

java_examples() ->
    filename:join([exhook_samples:root(), "_build", "java", "examples"]).

%% Puts a copy of library `From' at `To', written over in place: every
%% instance runs a private copy, so the running one is not touched.
install_library(From, To) ->
    {ok, _} = file:copy(From, To).

%% The recorder driver `rec', writing to a new file in the suite's priv_dir;
%% `Extra' adds driver options.
recorder(Config, Extra) ->
    Dir = proplists:get_value(priv_dir, Config),
    File = filename:join(Dir, "record-" ++ integer_to_list(erlang:unique_integer([positive]))),
    {{rec, [{path, exhook_samples:library(emqx_test_recorder)}, {record_to, File},
            {transport, transport()} | Extra]}, File}.

recorded(File) ->
    case file:read_file(File) of
        {ok, Bin} -> [L || L <- binary:split(Bin, <<"\n">>, [global]), L =/= <<>>];
        {error, enoent} -> []
    end.

%% Notifications are queued and handled after the hook returns: waits
%% (up to 10 s) until the recorder has written `N' lines.
await_recorded(File, N) ->
    await_recorded(File, N, 1000).

await_recorded(File, N, 0) ->
    error({recorded, length(recorded(File)), expected, N});
await_recorded(File, N, Tries) ->
    Lines = recorded(File),
    case length(Lines) >= N of
        true -> Lines;
        false -> timer:sleep(10), await_recorded(File, N, Tries - 1)
    end.

points_with_callbacks() ->
    [P || #{point := P} <- emqx_extension_hook_hooks:all(), emqx_hooks:lookup(P) =/= []].

%% True when native driver `Driver' holds no library any more: neither of
%% its two module slots is loaded, or each is the stub a stopped instance
%% leaves (its NIF stubs never replaced), and no old code of them is left
%% to purge.
library_released(Driver) ->
    Name = atom_to_binary(Driver, utf8),
    lists:all(fun(Slot) -> module_released(emqx_extension_hook_driver:nif_module(Name, Slot)) end,
              [0, 1]).

module_released(Module) ->
    Current = case code:is_loaded(Module) of
                  false -> true;
                  _ -> try Module:hook_names() of _ -> false
                       catch error:nif_not_loaded -> true
                       end
              end,
    Current andalso not erlang:check_old_code(Module).

%% The private library copies this VM has mapped (see
%% emqx_extension_hook_library: one file per instance).
mapped_library_copies() ->
    {ok, Maps} = file:read_file("/proc/self/maps"),
    Lines = binary:split(Maps, <<"\n">>, [global]),
    Pattern = "(/\\S*/emqx_extension_hook[^/]*/" ++ os:getpid() ++ "-\\S+)",
    lists:usort([Path || L <- Lines,
                         {match, [Path]} <- [re:run(L, Pattern, [{capture, all_but_first, binary}])]]).

%% Waits (up to 5 s) until at most `N' library copies are mapped, and
%% returns those mapped then. The VM unloads a purged library once the last
%% term referring to one of its resources is collected, so every process is
%% collected between looks.
await_mapped_library_copies(N) ->
    await_mapped_library_copies(N, 50).

await_mapped_library_copies(N, Tries) ->
    [erlang:garbage_collect(P) || P <- processes()],
    Mapped = mapped_library_copies(),
    case length(Mapped) =< N orelse Tries =:= 0 of
        true -> Mapped;
        false -> timer:sleep(100), await_mapped_library_copies(N, Tries - 1)
    end.

%% Waits (up to 10 s) until the counters of `Hook' in `Driver' satisfy
%% `Done', and returns them.
await_stats(Driver, Hook, Done) ->
    await_stats(Driver, Hook, Done, 1000).

await_stats(Driver, Hook, _Done, 0) ->
    ct:fail({stats_not_settled, Hook, stats(Driver, Hook)});
await_stats(Driver, Hook, Done, Tries) ->
    Stats = stats(Driver, Hook),
    case Done(Stats) of
        true -> Stats;
        false -> timer:sleep(10), await_stats(Driver, Hook, Done, Tries - 1)
    end.

%% The counters of `Hook' in enabled driver `Driver'.
stats(Driver, Hook) ->
    [#{hooks := Hooks}] = [S || S = #{name := N} <- emqx_extension_hook:stats(),
                                N =:= atom_to_binary(Driver, utf8)],
    proplists:get_value(Hook, Hooks).
