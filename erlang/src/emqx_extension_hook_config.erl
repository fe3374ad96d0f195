%% @doc The drivers' config: application env `drivers', as the cuttlefish
%% schema produces it from `exhook.drivers.NAME.*', checked and given
%% defaults.
%%
%% ```
%% {drivers, [{auth, [{path, "/opt/handlers/libauth.so"},
%%                    {kind, native},               % native | python3 | java
%%                    {call_timeout, 5000},
%%                    {transport, nif},
%%                    {pool_size, 8},
%%                    {pool_max, 64},
%%                    {queue_capacity, 1024},
%%                    {failed_action, deny},
%%                    {optional, false},
%%                    {mode, pool},
%%                    {modes, [{client_check_acl, inline}]},
%%                    {handler, [{"database_url", "..."}]}]}]}
%% '''
%%
%% A driver's kind says what `path' and `init_module' name:
%% <ul>
%% <li>`native': `path' is a handler library built with the Rust SDK;
%%     `init_module', when set, is the module name it must have been built
%%     with (`export_handler!'), a check that `path' names the intended
%%     library.</li>
%% <li>`python3': `path' is the search path of the user's Python modules
%%     (`:'-separated), `init_module' the module whose `init()' and
%%     `deinit()' are called (default `main'); `venv' a virtual environment
%%     whose site-packages the interpreter uses. The handler runs in the
%%     plugin's Python library, on the driver's worker threads only.</li>
%% <li>`java': `path' holds the handler's classes and jars, `init_module'
%%     is the handler class (default `Main'); the JVM always runs out of
%%     process (transport port).</li>
%% </ul>
%% The kind defaults from the driver's name: `python3' and `java' are
%% those kinds, any other name is native.
-module(emqx_extension_hook_config).

-export([drivers/0, driver/1, parse/3, handler_settings/1]).

-define(APP, emqx_extension_hook).
-define(DEFAULT_CALL_TIMEOUT, 5000).
-define(DEFAULT_POOL_SIZE, 8).
%% JVMs: each costs a heap and a start-up, and runs a thread pool.
-define(DEFAULT_JAVA_POOL_SIZE, 1).
%% Workers a driver may add while calls block; see the schema.
-define(DEFAULT_POOL_MAX, 64).
-define(DEFAULT_QUEUE_CAPACITY, 1024).
-define(MODES, [inline, dirty_cpu, dirty_io, pool]).
%% As the original's successor (emqx_exhook, `request_failed_action'):
%% a handler that decides who may log in fails closed.
-define(DEFAULT_FAILED_ACTION, deny).
-define(PYTHON_LIBRARY, "libemqx_extension_hook_python.so").

-type mode() :: inline | dirty_cpu | dirty_io | pool.
-type kind() :: native | python3 | java.
-type opts() :: #{kind := kind(),
                  %% As configured, for display.
                  path := string(),
                  %% The library the VM or the launcher loads (native,
                  %% python3), or undefined (java).
                  library := string() | undefined,
                  init_module := string() | undefined,
                  transport := nif | port,
                  call_timeout := pos_integer(), pool_size := pos_integer(),
                  pool_max := pos_integer(), queue_capacity := pos_integer(),
                  failed_action := ignore | deny, optional := boolean(),
                  priority := integer(),
                  %% Config overrides of the handler's modes: for every fold
                  %% hook, and by hook point.
                  mode := mode() | undefined,
                  modes := #{atom() => mode()},
                  %% What the handler's `Config' holds: every key of the
                  %% driver's config as text, then the `handler' settings.
                  settings := [{binary(), binary()}],
                  %% Anything else the driver's kind reads (java: `java',
                  %% `jvm_args').
                  raw := [{atom(), term()}]}.
-export_type([opts/0, mode/0, kind/0]).

%% @doc Every configured driver, in config order (the order drivers are
%% asked in), with its checked options or the reason it is invalid.
-spec drivers() -> [{binary(), {ok, opts()} | {error, term()}}].
drivers() ->
    Drivers = application:get_env(?APP, drivers, []),
    {Parsed, _} = lists:mapfoldl(
                    fun({Name, Raw}, Pos) ->
                            N = name(Name),
                            {{N, parse(N, Raw, Pos)}, Pos + 1}
                    end, 0, Drivers),
    Parsed.

%% @doc The checked options of driver `Name'.
-spec driver(binary()) -> {ok, opts()} | {error, term()}.
driver(Name) ->
    case lists:keyfind(Name, 1, drivers()) of
        {Name, Result} -> Result;
        false -> {error, not_configured}
    end.

%% @doc The handler's own settings (`exhook.drivers.NAME.handler.KEY'),
%% as text, in config order: values that may hold secrets (a database
%% URL with its password), never to be shown as they are.
-spec handler_settings(opts()) -> [{binary(), binary()}].
handler_settings(#{raw := Raw}) ->
    [{setting_text(K), setting_text(V)} || {K, V} <- handler_settings_raw(Raw)].

%% @doc Checks driver `Name''s proplist; `Pos' is its place in the config,
%% which sets its hook priority (the first driver is asked first).
-spec parse(binary(), [{atom(), term()}], non_neg_integer()) -> {ok, opts()} | {error, term()}.
parse(Name, Raw, Pos) when is_list(Raw) ->
    try
        valid_name(Name),
        Kind = kind(Name, Raw),
        Path = path(Kind, Raw),
        Transport = transport(Kind, Raw),
        Opts = #{kind => Kind,
                 path => Path,
                 library => library(Kind, Path),
                 init_module => init_module(Kind, Raw),
                 transport => Transport,
                 call_timeout => positive(call_timeout, Raw, ?DEFAULT_CALL_TIMEOUT),
                 pool_size => positive(pool_size, Raw, default_pool_size(Kind)),
                 pool_max => positive(pool_max, Raw, ?DEFAULT_POOL_MAX),
                 queue_capacity => positive(queue_capacity, Raw, ?DEFAULT_QUEUE_CAPACITY),
                 failed_action => failed_action(Raw),
                 optional => boolean(optional, Raw, false),
                 mode => mode(Kind, mode, proplists:get_value(mode, Raw)),
                 modes => hook_modes(Kind, proplists:get_value(modes, Raw, [])),
                 priority => -Pos,
                 raw => Raw},
        {ok, Opts#{settings => settings(Kind, Raw, Opts)}}
    catch
        throw:Reason -> {error, Reason}
    end;
parse(_Name, Raw, _Pos) ->
    {error, {not_a_proplist, Raw}}.

default_pool_size(java) -> ?DEFAULT_JAVA_POOL_SIZE;
default_pool_size(_) -> ?DEFAULT_POOL_SIZE.

%% Names become part of module names and metric names.
valid_name(Name) ->
    case re:run(Name, "^[A-Za-z0-9_-]+$", [{capture, none}]) of
        match -> ok;
        nomatch -> throw({invalid_driver_name, Name})
    end.

kind(Name, Raw) ->
    case proplists:get_value(kind, Raw, default_kind(Name)) of
        K when K =:= native; K =:= python3; K =:= java -> K;
        K when K =:= python2; K =:= python; K =:= "python2"; K =:= <<"python2">> ->
            throw({unsupported_kind, python2});
        K when is_list(K); is_binary(K) -> kind(Name, [{kind, kind_atom(text(K))}]);
        Other -> throw({invalid, kind, Other})
    end.

kind_atom("native") -> native;
kind_atom("python3") -> python3;
kind_atom("java") -> java;
kind_atom("python2") -> python2;
kind_atom(Other) -> throw({invalid, kind, Other}).

default_kind(<<"python3">>) -> python3;
default_kind(<<"python2">>) -> python2;
default_kind(<<"java">>) -> java;
default_kind(_) -> native.

path(python3, Raw) -> text(proplists:get_value(path, Raw, "data/extension/"));
path(_Kind, Raw) -> text(required(path, Raw)).

%% A relative path resolves against the node's working directory (the
%% release root in EMQX), and stays as configured in what is reported.
library(native, Path) -> Path;
library(python3, _Path) -> filename:join(code:priv_dir(?APP), ?PYTHON_LIBRARY);
library(java, _Path) -> undefined.

init_module(native, Raw) -> optional_text(init_module, Raw, undefined);
init_module(python3, Raw) -> optional_text(init_module, Raw, "main");
init_module(java, Raw) -> optional_text(init_module, Raw, "Main").

optional_text(Key, Raw, Default) ->
    case proplists:get_value(Key, Raw) of
        undefined -> Default;
        Value -> text(Value)
    end.

required(Key, Raw) ->
    case proplists:get_value(Key, Raw) of
        undefined -> throw({missing, Key});
        Value -> Value
    end.

positive(Key, Raw, Default) ->
    case proplists:get_value(Key, Raw, Default) of
        N when is_integer(N), N > 0 -> N;
        Other -> throw({invalid, Key, Other})
    end.

boolean(Key, Raw, Default) ->
    case proplists:get_value(Key, Raw, Default) of
        B when is_boolean(B) -> B;
        Other -> throw({invalid, Key, Other})
    end.

failed_action(Raw) ->
    case proplists:get_value(failed_action, Raw, ?DEFAULT_FAILED_ACTION) of
        A when A =:= ignore; A =:= deny -> A;
        A when A =:= "ignore"; A =:= <<"ignore">> -> ignore;
        A when A =:= "deny"; A =:= <<"deny">> -> deny;
        Other -> throw({invalid, failed_action, Other})
    end.

%% Java runs out of process only: a JVM in the broker's VM could take it
%% down (its fatal errors, System.exit).
transport(java, Raw) ->
    case proplists:get_value(transport, Raw, port) of
        port -> port;
        Other -> throw({invalid_for_kind, java, transport, Other})
    end;
transport(_Kind, Raw) ->
    case proplists:get_value(transport, Raw, nif) of
        T when T =:= nif; T =:= port -> T;
        Other -> throw({invalid, transport, Other})
    end.

mode(_Kind, _Key, undefined) -> undefined;
%% Python never runs on the broker's schedulers: a handler that blocks,
%% recurses deeply or waits for the interpreter lock would stall them.
mode(python3, Key, inline) -> throw({invalid_for_kind, python3, Key, inline});
mode(_Kind, Key, Mode) ->
    case lists:member(Mode, ?MODES) of
        true -> Mode;
        false -> throw({invalid, Key, Mode})
    end.

%% `[{client_check_acl, inline}]' keyed by hook point; only fold hooks that
%% take a decision have a mode.
hook_modes(Kind, Modes) when is_list(Modes) ->
    maps:from_list([hook_mode(Kind, Entry) || Entry <- Modes]);
hook_modes(_Kind, Other) ->
    throw({invalid, modes, Other}).

hook_mode(Kind, {Key, Mode}) when is_atom(Key) ->
    case emqx_extension_hook_hooks:by_key(Key) of
        {ok, #{point := Point, kind := fold}} -> {Point, mode(Kind, Key, Mode)};
        {ok, _} -> throw({not_a_fold_hook, Key});
        {error, _} = E -> throw(E)
    end;
hook_mode(_Kind, Other) ->
    throw({invalid, modes, Other}).

%% What the handler's `Config' holds: every key of the driver's config as
%% text (for python3, `path' as absolute directories and `init_module' with
%% its default), then the `handler' settings under their own names, then
%% `node': the broker's node name, unless a handler setting gives one.
settings(Kind, Raw, Opts) ->
    Plain = [{K, V} || {K, V} <- Raw, is_atom(K), K =/= modes, K =/= handler],
    Own = case Kind of
              python3 ->
                  [{path, search_path(maps:get(path, Opts))},
                   {init_module, maps:get(init_module, Opts)} |
                   [{venv, filename:absname(text(V))} || {venv, V} <- Plain]];
              _ ->
                  []
          end,
    Keys = [K || {K, _} <- Own],
    [{setting_text(K), setting_text(V)}
     || {K, V} <- Own ++ [KV || {K, _} = KV <- Plain, not lists:member(K, Keys)]]
        ++ handler_settings(Opts)
        ++ [{<<"node">>, atom_to_binary(node(), utf8)}].

handler_settings_raw(Raw) ->
    case proplists:get_value(handler, Raw, []) of
        L when is_list(L) -> L;
        Other -> throw({invalid, handler, Other})
    end.

search_path(Path) ->
    string:join([filename:absname(Dir) || Dir <- string:lexemes(Path, ":")], ":").

setting_text(V) -> unicode:characters_to_binary(text(V)).

text(V) when is_binary(V) -> unicode:characters_to_list(V);
text(V) when is_atom(V) -> atom_to_list(V);
text(V) when is_integer(V) -> integer_to_list(V);
text(V) when is_list(V) ->
    case io_lib:printable_unicode_list(V) of
        true -> V;
        false -> throw({not_text, V})
    end;
text(V) -> throw({not_text, V}).

name(N) when is_atom(N) -> atom_to_binary(N, utf8);
name(N) when is_list(N) -> unicode:characters_to_binary(N);
name(N) when is_binary(N) -> N.
