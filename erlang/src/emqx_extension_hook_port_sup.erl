%% @doc Supervises the servers of the Port transport's handler processes
%% (see `emqx_extension_hook_port'); each restarts its own process.
-module(emqx_extension_hook_port_sup).

-behaviour(supervisor).

-export([start_link/0, init/1]).

%% @doc Starts the supervisor.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    Server = #{id => emqx_extension_hook_port,
               start => {emqx_extension_hook_port, start_link, []},
               restart => temporary,
               shutdown => 15000,
               type => worker},
    {ok, {#{strategy => simple_one_for_one, intensity => 10, period => 10}, [Server]}}.
