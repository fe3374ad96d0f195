%% @doc The plugin's API.
%%
%% <ul>
%% <li>`enable/1', `disable/1', `list/0': manage drivers, as
%%     `emqx_ctl exhook drivers enable | disable | list' do.</li>
%% <li>`reload/1': disable and enable again, picking up a rebuilt library.</li>
%% <li>`stats/0': each enabled driver's counters and latencies, by hook.</li>
%% <li>`callbacks/1': the broker callbacks an enabled driver registered.</li>
%% </ul>
%% The same over EMQX's HTTP management API: `emqx_extension_hook_api'.
-module(emqx_extension_hook).

-export([enable/1, disable/1, reload/1, list/0, stats/0, callbacks/1]).

%% @doc Enables configured driver `Name'.
-spec enable(binary() | string() | atom()) -> ok | {error, term()}.
enable(Name) -> emqx_extension_hook_drivers:enable(Name).

%% @doc Disables driver `Name'.
-spec disable(binary() | string() | atom()) -> ok | {error, term()}.
disable(Name) -> emqx_extension_hook_drivers:disable(Name).

%% @doc Disables driver `Name' and enables it again from its config.
-spec reload(binary() | string() | atom()) -> ok | {error, term()}.
reload(Name) -> emqx_extension_hook_drivers:reload(Name).

%% @doc Each enabled driver's counters and latencies, by hook.
-spec stats() -> [emqx_extension_hook_drivers:stats()].
stats() -> emqx_extension_hook_drivers:stats().

%% @doc Every configured or enabled driver, in config order.
-spec list() -> [emqx_extension_hook_drivers:info()].
list() -> emqx_extension_hook_drivers:list().

%% @doc The broker callbacks enabled driver `Name' registered.
-spec callbacks(binary() | string() | atom()) ->
          {ok, [{atom(), {module(), atom(), list()}}]} | {error, not_enabled}.
callbacks(Name) -> emqx_extension_hook_drivers:callbacks(Name).
