%% @doc The drivers' config: application env `drivers', as the cuttlefish
%% schema produces it from `exhook.drivers.NAME.*', checked and given
%% defaults.
%%
%% ```
%% {drivers, [{auth, [{path, "/opt/handlers/libauth.so"},
%%                    {init_module, auth},
%%                    {call_timeout, 5000},
%%                    {transport, nif},
%%                    {pool_size, 8},
%%                    {pool_max, 64},
%%                    {queue_capacity, 1024},
%%                    {failed_action, deny},
%%                    {mode, pool},
%%                    {modes, [{client_check_acl, inline}]}]}]}
%% '''
-module(emqx_extension_hook_config).

-export([drivers/0, driver/1, parse/2]).

-define(APP, emqx_extension_hook).
-define(DEFAULT_CALL_TIMEOUT, 5000).
-define(DEFAULT_POOL_SIZE, 8).
%% Workers a driver may add while calls block; see the schema.
-define(DEFAULT_POOL_MAX, 64).
-define(DEFAULT_QUEUE_CAPACITY, 1024).
-define(MODES, [inline, dirty_cpu, dirty_io, pool]).
%% As the original's successor (emqx_exhook, `request_failed_action`):
%% a handler that decides who may log in fails closed.
-define(DEFAULT_FAILED_ACTION, deny).

-type mode() :: inline | dirty_cpu | dirty_io | pool.
-type opts() :: #{path := string(), init_module := module(), transport := nif | port,
                  call_timeout := pos_integer(), pool_size := pos_integer(),
                  pool_max := pos_integer(), queue_capacity := pos_integer(),
                  failed_action := ignore | deny, priority := integer(),
                  %% Config overrides of the handler's modes: for every fold
                  %% hook, and by hook point.
                  mode := mode() | undefined,
                  modes := #{atom() => mode()},
                  settings := [{binary(), binary()}]}.
-export_type([opts/0, mode/0]).

%% @doc Every configured driver, in config order (the order drivers are
%% asked in), with its checked options or the reason it is invalid.
-spec drivers() -> [{binary(), {ok, opts()} | {error, term()}}].
drivers() ->
    Drivers = application:get_env(?APP, drivers, []),
    {Parsed, _} = lists:mapfoldl(
                    fun({Name, Raw}, Pos) ->
                            Opts = parse(Raw, Pos),
                            {{name(Name), Opts}, Pos + 1}
                    end, 0, Drivers),
    Parsed.

%% @doc The checked options of driver `Name'.
-spec driver(binary()) -> {ok, opts()} | {error, term()}.
driver(Name) ->
    case lists:keyfind(Name, 1, drivers()) of
        {Name, Result} -> Result;
        false -> {error, not_configured}
    end.

%% @doc Checks one driver's proplist; `Pos' is its place in the config,
%% which sets its hook priority (the first driver is asked first).
-spec parse([{atom(), term()}], non_neg_integer()) -> {ok, opts()} | {error, term()}.
parse(Raw, Pos) when is_list(Raw) ->
    try
        Path = text(required(path, Raw)),
        Opts = #{path => Path,
                 init_module => init_module(Raw, Path),
                 transport => transport(Raw),
                 call_timeout => positive(call_timeout, Raw, ?DEFAULT_CALL_TIMEOUT),
                 pool_size => positive(pool_size, Raw, ?DEFAULT_POOL_SIZE),
                 pool_max => positive(pool_max, Raw, ?DEFAULT_POOL_MAX),
                 queue_capacity => positive(queue_capacity, Raw, ?DEFAULT_QUEUE_CAPACITY),
                 failed_action => failed_action(Raw),
                 mode => mode(mode, proplists:get_value(mode, Raw)),
                 modes => hook_modes(proplists:get_value(modes, Raw, [])),
                 priority => -Pos},
        {ok, Opts#{settings => settings(Raw)}}
    catch
        throw:Reason -> {error, Reason}
    end;
parse(Raw, _Pos) ->
    {error, {not_a_proplist, Raw}}.

required(Key, Raw) ->
    case proplists:get_value(Key, Raw) of
        undefined -> throw({missing, Key});
        Value -> Value
    end.

%% The SDK's `export_handler!(T)' binds the library to its crate name, which
%% is also the library's file name without `lib' and the extension.
init_module(Raw, Path) ->
    case proplists:get_value(init_module, Raw) of
        undefined ->
            Base = filename:basename(Path, filename:extension(Path)),
            list_to_atom(strip_lib(Base));
        M when is_atom(M) -> M;
        M when is_list(M); is_binary(M) -> list_to_atom(text(M));
        Other -> throw({invalid, init_module, Other})
    end.

strip_lib("lib" ++ Rest) when Rest =/= "" -> Rest;
strip_lib(Base) -> Base.

positive(Key, Raw, Default) ->
    case proplists:get_value(Key, Raw, Default) of
        N when is_integer(N), N > 0 -> N;
        Other -> throw({invalid, Key, Other})
    end.

failed_action(Raw) ->
    case proplists:get_value(failed_action, Raw, ?DEFAULT_FAILED_ACTION) of
        A when A =:= ignore; A =:= deny -> A;
        A when A =:= "ignore"; A =:= <<"ignore">> -> ignore;
        A when A =:= "deny"; A =:= <<"deny">> -> deny;
        Other -> throw({invalid, failed_action, Other})
    end.

transport(Raw) ->
    case proplists:get_value(transport, Raw, nif) of
        T when T =:= nif; T =:= port -> T;
        Other -> throw({invalid, transport, Other})
    end.

mode(_Key, undefined) -> undefined;
mode(Key, Mode) ->
    case lists:member(Mode, ?MODES) of
        true -> Mode;
        false -> throw({invalid, Key, Mode})
    end.

%% `[{client_check_acl, inline}]' keyed by hook point; only fold hooks that
%% take a decision have a mode.
hook_modes(Modes) when is_list(Modes) ->
    maps:from_list([hook_mode(Entry) || Entry <- Modes]);
hook_modes(Other) ->
    throw({invalid, modes, Other}).

hook_mode({Key, Mode}) when is_atom(Key) ->
    case emqx_extension_hook_hooks:by_key(Key) of
        {ok, #{point := Point, kind := fold}} -> {Point, mode(Key, Mode)};
        {ok, _} -> throw({not_a_fold_hook, Key});
        {error, _} = E -> throw(E)
    end;
hook_mode(Other) ->
    throw({invalid, modes, Other}).

%% Everything in the driver's config, as text, for the handler's `Config'.
settings(Raw) ->
    [{atom_to_binary(K, utf8), unicode:characters_to_binary(io_lib:format("~ts", [text(V)]))}
     || {K, V} <- Raw, is_atom(K), K =/= modes].

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
