%% @doc The plugin application. The `emqx_plugin' attribute is what makes
%% EMQX 4.4 list this application as a plugin.
%%
%% The plugin fails closed: when a configured driver that is not
%% `optional' cannot be enabled, the application does not start, and
%% `emqx_ctl plugins load emqx_extension_hook' prints the driver's name
%% and why. A plugin that decides logins must not start without its
%% deciders: the broker's own defaults (anonymous logins allowed, ACL
%% `nomatch' allowed) would let every client in.
-module(emqx_extension_hook_app).

-behaviour(application).

-emqx_plugin(?MODULE).

-export([start/2, prep_stop/1, stop/1]).

%% @doc Starts the registry (which enables the configured drivers) and
%% registers the `exhook' command; fails if a required driver failed.
-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    case emqx_extension_hook_sup:start_link() of
        {ok, Sup} ->
            case emqx_extension_hook_drivers:failures() of
                [] ->
                    _ = emqx_extension_hook_emqx:register_cli(emqx_extension_hook_cli),
                    {ok, Sup};
                Failed ->
                    %% The drivers that did start are disabled on the way down.
                    unlink(Sup),
                    ok = proc_lib:stop(Sup, shutdown, infinity),
                    {error, failure_text(Failed)}
            end;
        Error ->
            Error
    end.

%% @doc Removes the `exhook' command before the drivers stop.
-spec prep_stop(term()) -> term().
prep_stop(State) ->
    _ = emqx_extension_hook_emqx:unregister_cli(),
    State.

%% @doc Nothing left to do: the registry disabled every driver on its way down.
-spec stop(term()) -> ok.
stop(_State) ->
    ok.

failure_text(Failed) ->
    lists:flatten(
      lists:join("; ",
                 [io_lib:format("exhook driver ~ts cannot be enabled: ~ts (or set "
                                "exhook.drivers.~ts.optional = true to start without it)",
                                [Name, emqx_extension_hook_errors:text(Name, Reason), Name])
                  || {Name, Reason} <- Failed])).
