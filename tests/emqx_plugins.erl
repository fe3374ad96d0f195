%% Test stand-in for what EMQX 4.4 does at `emqx_ctl plugins load NAME'
%% (emqx_plugins:load/1 and emqx_mgmt_cli's `plugins' command), once the
%% plugin's config has been mapped into its application env:
%%
%% - a plugin is an application with a module carrying
%%   `-emqx_plugin(...)' (otherwise `not_found');
%% - the application is loaded and `application:ensure_all_started/1'd;
%%   a start error `{error, {App, Reason}}' is logged and returned;
%% - the CLI prints "Plugin NAME loaded successfully." or
%%   "Load plugin NAME error: ~p." with that error.
-module(emqx_plugins).

-export([load/1, unload/1, cli/1]).

load(App) ->
    case is_plugin(App) of
        false -> {error, not_found};
        true ->
            case lists:keymember(App, 1, application:which_applications()) of
                true -> {error, already_started};
                false -> start(App)
            end
    end.

unload(App) ->
    application:stop(App).

start(App) ->
    case application:load(App) of
        Loaded when Loaded =:= ok; Loaded =:= {error, {already_loaded, App}} ->
            case application:ensure_all_started(App) of
                {ok, _Started} ->
                    ok;
                {error, {ErrApp, Reason}} ->
                    logger:error("Load plugin ~s error, cannot start app ~s for ~p",
                                 [App, ErrApp, Reason]),
                    {error, {ErrApp, Reason}}
            end;
        {error, _} = E ->
            E
    end.

is_plugin(App) ->
    _ = application:load(App),
    case application:get_key(App, modules) of
        {ok, Modules} ->
            lists:any(fun(M) ->
                              lists:keymember(emqx_plugin, 1, M:module_info(attributes))
                      end, Modules);
        undefined ->
            false
    end.

%% emqx_mgmt_cli:plugins/1, the `load' and `unload' commands.
cli(["load", Name]) ->
    case load(list_to_atom(Name)) of
        ok -> emqx_ctl:print("Plugin ~s loaded successfully.~n", [Name]);
        {error, Reason} -> emqx_ctl:print("Load plugin ~s error: ~p.~n", [Name, Reason])
    end;
cli(["unload", Name]) ->
    case unload(list_to_atom(Name)) of
        ok -> emqx_ctl:print("Plugin ~s unloaded successfully.~n", [Name]);
        {error, Reason} -> emqx_ctl:print("Unload plugin ~s error: ~p.~n", [Name, Reason])
    end.
