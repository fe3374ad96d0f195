%% @doc The EMQX metrics `exhook.DRIVER.HOOK' (one counter per driver and
%% hook, as the original plugin named them), kept off the hook path.
%%
%% Counting each call in EMQX's `emqx_metrics' costs a few hundred
%% nanoseconds per call on the broker's hot path; every instance of a
%% driver counts its calls itself (the NIFs' counters, the Port
%% transport's), so once a second this process adds what each instance
%% counted since the last time to the EMQX metrics. The registry tells it
%% which instances run, and has it account for an instance one last time
%% before stopping it, so no call goes uncounted.
-module(emqx_extension_hook_metrics).

-behaviour(gen_server).

-include("emqx_extension_hook.hrl").

-export([start_link/0, running/1, account/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(SERVER, ?MODULE).
-define(EVERY_MS, 1000).

-type state() :: #{instances := [#exhook_driver{}],
                   %% Calls already added, by {Instance, HookPoint}.
                   seen := #{{pos_integer(), atom()} => non_neg_integer()}}.

%% @doc Starts the process, registered under its module name.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?SERVER}, ?MODULE, [], []).

%% @doc The instances that run now (the registry tells at each change).
-spec running([#exhook_driver{}]) -> ok.
running(Instances) ->
    gen_server:cast(?SERVER, {running, Instances}).

%% @doc Adds what instance `Driver' counted since the last time, now (the
%% registry calls it before it stops an instance).
-spec account(#exhook_driver{}) -> ok.
account(Driver) ->
    gen_server:call(?SERVER, {account, Driver}, infinity).

-spec init([]) -> {ok, state()}.
init([]) ->
    erlang:send_after(?EVERY_MS, self(), tick),
    {ok, #{instances => [], seen => #{}}}.

-spec handle_call(term(), gen_server:from(), state()) -> {reply, ok, state()}.
handle_call({account, Driver}, _From, State) ->
    {reply, ok, add(Driver, State)};
handle_call(_Request, _From, State) ->
    {reply, ok, State}.

-spec handle_cast(term(), state()) -> {noreply, state()}.
handle_cast({running, Instances}, #{seen := Seen} = State) ->
    Live = [I || #exhook_driver{instance = I} <- Instances],
    {noreply, State#{instances := Instances,
                     seen := maps:filter(fun({I, _}, _) -> lists:member(I, Live) end, Seen)}};
handle_cast(_Msg, State) ->
    {noreply, State}.

-spec handle_info(term(), state()) -> {noreply, state()}.
handle_info(tick, #{instances := Instances} = State) ->
    erlang:send_after(?EVERY_MS, self(), tick),
    {noreply, lists:foldl(fun add/2, State, Instances)};
handle_info(_Info, State) ->
    {noreply, State}.

add(#exhook_driver{metrics = none}, State) ->
    State;
add(#exhook_driver{instance = I, metrics = Names} = Driver, #{seen := Seen} = State) ->
    Rows = try emqx_extension_hook_driver:stats(Driver) of
               #{hooks := Hooks} -> Hooks
           catch
               %% The instance stopped meanwhile: what it counted last was
               %% added when the registry stopped it.
               _:_ -> []
           end,
    Seen1 = lists:foldl(
              fun({Point, #{calls := Calls}}, Acc) ->
                      Before = maps:get({I, Point}, Acc, 0),
                      Calls > Before andalso
                          emqx_extension_hook_emqx:inc_metric(metric(Point, Names), Calls - Before),
                      Acc#{{I, Point} => Calls}
              end, Seen, Rows),
    State#{seen := Seen1}.

metric(Point, Names) ->
    {ok, #{index := Index}} = emqx_extension_hook_hooks:by_name(atom_to_binary(Point, utf8)),
    element(Index + 1, Names).
