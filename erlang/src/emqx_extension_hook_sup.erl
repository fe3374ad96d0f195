%% @doc The plugin's supervisor: the reporter, the handlers' log, the
%% EMQX metrics, the servers of the Port transport's processes, then the
%% driver registry (whose drivers use them all).
-module(emqx_extension_hook_sup).

-behaviour(supervisor).

-export([start_link/0, init/1]).

%% @doc Starts the supervisor.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    Reporter = #{id => emqx_extension_hook_reporter,
                 start => {emqx_extension_hook_reporter, start_link, []},
                 restart => permanent, shutdown => 5000, type => worker},
    Log = #{id => emqx_extension_hook_log,
            start => {emqx_extension_hook_log, start_link, []},
            restart => permanent, shutdown => 5000, type => worker},
    Metrics = #{id => emqx_extension_hook_metrics,
                start => {emqx_extension_hook_metrics, start_link, []},
                restart => permanent, shutdown => 5000, type => worker},
    PortSup = #{id => emqx_extension_hook_port_sup,
                start => {emqx_extension_hook_port_sup, start_link, []},
                restart => permanent, shutdown => infinity, type => supervisor},
    Registry = #{id => emqx_extension_hook_drivers,
                 start => {emqx_extension_hook_drivers, start_link, []},
                 restart => permanent,
                 %% Disabling a driver waits for its calls in flight.
                 shutdown => 30000,
                 type => worker},
    {ok, {#{strategy => rest_for_one, intensity => 5, period => 10}, [Reporter, Log, Metrics, PortSup, Registry]}}.
