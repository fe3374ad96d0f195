%% @doc The plugin application. The `emqx_plugin' attribute is what makes
%% EMQX 4.4 list this application as a plugin.
-module(emqx_extension_hook_app).

-behaviour(application).

-emqx_plugin(?MODULE).

-export([start/2, prep_stop/1, stop/1]).

%% @doc Starts the registry (which enables the configured drivers) and
%% registers the `exhook' command.
-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    case emqx_extension_hook_sup:start_link() of
        {ok, Sup} ->
            _ = emqx_extension_hook_emqx:register_cli(emqx_extension_hook_cli),
            {ok, Sup};
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
