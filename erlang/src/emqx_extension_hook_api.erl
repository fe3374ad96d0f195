%% @doc The drivers in EMQX 4.4's HTTP management API (`emqx_management',
%% `/api/v4' on port 8081), with the semantics of `emqx_ctl exhook
%% drivers ...':
%%
%% <ul>
%% <li>`GET /exhook/drivers': every configured or enabled driver.</li>
%% <li>`GET /exhook/drivers/:name': one of them.</li>
%% <li>`GET /exhook/drivers/:name/stats': an enabled driver's counters.</li>
%% <li>`PUT /exhook/drivers/:name/enable | disable | reload'.</li>
%% </ul>
%%
%% Named as EMQX 4.4's own plugins name theirs: a plural noun under the
%% plugin's name (`exhook drivers' in the CLI), one item by its name, and
%% an action on it as `PUT .../ACTION', as `PUT /plugins/:atom:plugin/load'
%% and `PUT /modules/:atom:module/load' are (a driver's name is bound as a
%% binary: `:atom:' would need an atom that exists, and a name from a
%% request must not make one).
%%
%% EMQX finds the endpoints in the `rest_api' attributes of the plugin's
%% modules and calls `Func(Bindings, Params)'; nothing of EMQX is called
%% here. Replies follow EMQX's own: `{ok, #{code => 0, data => Data}}', or
%% `{ok, #{code => Code, message => Text}}' for a request the driver's
%% state refuses (400) or a driver that failed to start (500), with status
%% 200 as EMQX's own endpoints answer those (`minirest:return/1'); a
%% driver that is not configured is `{404, #{code => 404, message =>
%% Text}}', status 404 as for a path EMQX does not serve, so a client that
%% reads only the status tells it apart.
%% What can hold a secret goes through `emqx_extension_hook_redact'.
-module(emqx_extension_hook_api).

-rest_api(#{name => exhook_list_drivers,
            method => 'GET',
            path => "/exhook/drivers",
            func => list_drivers,
            descr => "List the extension hook drivers: state, hooks, last error"}).

-rest_api(#{name => exhook_show_driver,
            method => 'GET',
            path => "/exhook/drivers/:bin:name",
            func => show_driver,
            descr => "Show an extension hook driver"}).

-rest_api(#{name => exhook_driver_stats,
            method => 'GET',
            path => "/exhook/drivers/:bin:name/stats",
            func => driver_stats,
            descr => "Calls, failures, timeouts, queue depth and latency of an enabled driver, by hook"}).

-rest_api(#{name => exhook_enable_driver,
            method => 'PUT',
            path => "/exhook/drivers/:bin:name/enable",
            func => enable_driver,
            descr => "Enable an extension hook driver"}).

-rest_api(#{name => exhook_disable_driver,
            method => 'PUT',
            path => "/exhook/drivers/:bin:name/disable",
            func => disable_driver,
            descr => "Disable an extension hook driver"}).

-rest_api(#{name => exhook_reload_driver,
            method => 'PUT',
            path => "/exhook/drivers/:bin:name/reload",
            func => reload_driver,
            descr => "Replace a driver by a new instance from its config, losing no call"}).

-export([list_drivers/2, show_driver/2, driver_stats/2, enable_driver/2, disable_driver/2,
         reload_driver/2]).

-type bindings() :: #{atom() => term()}.
%% From the query string and the JSON body; no endpoint reads any.
-type params() :: [{binary(), term()}].
-type json() :: #{atom() | binary() => json()} | [json()] | binary() | number() | boolean() | null.
-type reply() :: {ok, #{code := integer(), data => json(), message => binary()}}
               | {404, #{code := 404, message := binary()}}.
-export_type([reply/0]).

%% A request the driver's current state refuses; a driver that failed.
-define(REFUSED, 400).
-define(FAILED, 500).

%% @doc Every configured or enabled driver, in config order.
-spec list_drivers(bindings(), params()) -> reply().
list_drivers(_Bindings, _Params) ->
    Settings = handler_settings(),
    ok([driver(Info, Settings) || Info <- emqx_extension_hook:list()]).

%% @doc Driver `name'.
-spec show_driver(bindings(), params()) -> reply().
show_driver(#{name := Name}, _Params) ->
    with_driver(Name, fun(Info) -> ok(driver(Info, handler_settings())) end).

%% @doc The counters of enabled driver `name', by hook: what `emqx_ctl
%% exhook drivers stats' prints for it.
-spec driver_stats(bindings(), params()) -> reply().
driver_stats(#{name := Name}, _Params) ->
    with_driver(Name, fun(_Info) ->
                              case [S || S = #{name := N} <- emqx_extension_hook:stats(), N =:= Name] of
                                  [Stats] -> ok(stats(Stats));
                                  [] -> failed(Name, not_enabled)
                              end
                      end).

%% @doc Enables driver `name'; its state after.
-spec enable_driver(bindings(), params()) -> reply().
enable_driver(#{name := Name}, _Params) ->
    with_driver(Name, fun(_Info) -> done(Name, emqx_extension_hook:enable(Name)) end).

%% @doc Disables driver `name'; its state after.
-spec disable_driver(bindings(), params()) -> reply().
disable_driver(#{name := Name}, _Params) ->
    with_driver(Name, fun(_Info) -> done(Name, emqx_extension_hook:disable(Name)) end).

%% @doc Replaces driver `name''s instance by a new one from its config;
%% on failure the running one goes on serving. Its state after.
-spec reload_driver(bindings(), params()) -> reply().
reload_driver(#{name := Name}, _Params) ->
    with_driver(Name, fun(_Info) -> done(Name, emqx_extension_hook:reload(Name)) end).

%%--------------------------------------------------------------------
%% Replies

with_driver(Name, Fun) ->
    case find(Name) of
        {ok, Info} -> Fun(Info);
        error -> not_found(Name)
    end.

find(Name) ->
    case [I || I = #{name := N} <- emqx_extension_hook:list(), N =:= Name] of
        [Info] -> {ok, Info};
        [] -> error
    end.

done(Name, ok) ->
    case find(Name) of
        {ok, Info} -> ok(driver(Info, handler_settings()));
        %% Disabled, and gone from the config since it was enabled.
        error -> ok(null)
    end;
done(Name, {error, not_configured}) ->
    not_found(Name);
done(Name, {error, Reason}) ->
    failed(Name, Reason).

ok(Data) ->
    {ok, #{code => 0, data => Data}}.

failed(Name, Reason) ->
    Code = case Reason of
               already_enabled -> ?REFUSED;
               not_enabled -> ?REFUSED;
               _ -> ?FAILED
           end,
    {ok, #{code => Code, message => error_text(Name, Reason)}}.

%% The name came from the request: it is quoted back only when it is one
%% a driver could have.
not_found(Name) ->
    Text = case re:run(Name, "^[A-Za-z0-9_-]+$", [{capture, none}]) of
               match -> error_text(Name, not_configured);
               nomatch -> <<"no such driver (a driver's name is made of letters, digits, _ and -)">>
           end,
    {404, #{code => 404, message => Text}}.

error_text(Name, Reason) ->
    emqx_extension_hook_redact:text(emqx_extension_hook_errors:text(Name, Reason)).

%%--------------------------------------------------------------------
%% Drivers and stats as JSON terms

driver(#{name := Name, enabled := Enabled, hooks := Points} = Info, Settings) ->
    Transport = maps:get(transport, Info, undefined),
    Modes = maps:get(modes, Info, #{}),
    #{name => Name,
      enabled => Enabled,
      kind => atom_or_null(maps:get(kind, Info, undefined)),
      transport => atom_or_null(Transport),
      optional => maps:get(optional, Info, null),
      path => text_or_null(maps:get(path, Info, undefined)),
      hooks => [#{hook => atom_to_binary(P, utf8), mode => mode(Transport, maps:get(P, Modes))}
                || P <- Points],
      handler => maps:from_list([{K, emqx_extension_hook_redact:setting(V)}
                                 || {K, V} <- maps:get(Name, Settings, [])]),
      error => case Info of
                   #{error := Reason} -> error_text(Name, Reason);
                   _ -> null
               end}.

%% As the README's "Where handlers run" names them: a notification is
%% queued; on the Port transport every fold call is a round trip (the mode
%% keys do not apply).
mode(_Transport, cast) -> <<"queued">>;
mode(port, _Mode) -> <<"round_trip">>;
mode(nif, Mode) -> atom_to_binary(Mode, utf8).

%% `handler' holds the handler's own counters (a database handler's
%% queued, written and dropped rows), as the CLI's `handler:' line.
stats(#{name := Name, transport := Transport, queue_depth := Depth, restarts := Restarts,
        log_dropped := LogDropped, hooks := Hooks} = Stats) ->
    #{name => Name, transport => atom_to_binary(Transport, utf8), queue_depth => Depth,
      restarts => Restarts, log_dropped => LogDropped,
      handler => maps:from_list(maps:get(handler, Stats, [])),
      hooks => [(maps:filter(fun(_K, V) -> is_number(V) end, Counters))#{hook => atom_to_binary(H, utf8)}
                || {H, Counters} <- Hooks]}.

%% Each configured driver's handler settings, as text.
handler_settings() ->
    maps:from_list([{Name, emqx_extension_hook_config:handler_settings(Opts)}
                    || {Name, {ok, Opts}} <- emqx_extension_hook_config:drivers()]).

atom_or_null(undefined) -> null;
atom_or_null(A) -> atom_to_binary(A, utf8).

text_or_null(undefined) -> null;
text_or_null(Text) -> unicode:characters_to_binary(Text).
