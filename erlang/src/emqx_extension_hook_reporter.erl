%% @doc Logs what the drivers' NIFs report: handler panics, timeouts,
%% overruns, full queues, bad input. The NIFs send at most a few reports a
%% second per driver and count the rest, so a failing handler cannot flood
%% the log; a report never carries a password or a payload.
-module(emqx_extension_hook_reporter).

-behaviour(gen_server).

-export([start_link/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

%% @doc Starts the reporter, registered under its module name.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

-spec init([]) -> {ok, #{}}.
init([]) ->
    {ok, #{}}.

-spec handle_call(term(), gen_server:from(), map()) -> {reply, ok, map()}.
handle_call(_Request, _From, State) ->
    {reply, ok, State}.

-spec handle_cast(term(), map()) -> {noreply, map()}.
handle_cast(_Msg, State) ->
    {noreply, State}.

-spec handle_info(term(), map()) -> {noreply, map()}.
handle_info({exhook_report, Driver, Kind, Hook, Client, Detail, Suppressed}, State) ->
    logger:warning("exhook driver ~ts: ~ts ~ts for client ~ts: ~ts~ts",
                   [Driver, Hook, Kind, Client, Detail, suppressed(Suppressed)],
                   #{domain => [emqx_extension_hook]}),
    {noreply, State};
handle_info(_Info, State) ->
    {noreply, State}.

suppressed(0) -> "";
suppressed(N) -> io_lib:format(" (~b earlier reports suppressed)", [N]).
