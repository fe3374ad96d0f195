%% @doc The plugin's API.
%%
%% <ul>
%% <li>`enable/1', `disable/1', `list/0': manage drivers, as
%%     `emqx_ctl exhook drivers enable | disable | list' do.</li>
%% <li>`callbacks/1': the broker callbacks an enabled driver registered.</li>
%% </ul>
-module(emqx_extension_hook).

-export([enable/1, disable/1, list/0, callbacks/1]).

%% @doc Enables configured driver `Name'.
-spec enable(binary() | string() | atom()) -> ok | {error, term()}.
enable(Name) -> emqx_extension_hook_drivers:enable(Name).

%% @doc Disables driver `Name'.
-spec disable(binary() | string() | atom()) -> ok | {error, term()}.
disable(Name) -> emqx_extension_hook_drivers:disable(Name).

%% @doc Every configured or enabled driver, in config order.
-spec list() -> [emqx_extension_hook_drivers:info()].
list() -> emqx_extension_hook_drivers:list().

%% @doc The broker callbacks enabled driver `Name' registered.
-spec callbacks(binary() | string() | atom()) ->
          {ok, [{atom(), {module(), atom(), list()}}]} | {error, not_enabled}.
callbacks(Name) -> emqx_extension_hook_drivers:callbacks(Name).
