%% @doc The Port transport: a driver's handler runs in `pool_size' OS
%% processes of its own, each an Erlang Port speaking `{packet, 4}' and the
%% External Term Format (see the SDK's `runtime/port.rs' for the protocol).
%%
%% A handler that crashes, exits or hangs takes only its process down:
%% callers get the driver's failure policy, and the process is restarted
%% with backoff. Calls go straight from the caller to the port, tagged with
%% an alias of the caller that the reply is sent to; many are in flight at
%% once, and a reply that comes after the caller gave up is dropped by the
%% VM (the alias is gone), never left in the client's mailbox.
%%
%% One gen_server per process owns the port, restarts it, and hands each
%% reply to its caller. A client's events always go to the same process
%% (by clientid), which keeps them in order.
-module(emqx_extension_hook_port).

-behaviour(gen_server).

-export([start/3, stop/1, call/4, cast/4, stats/2, os_pids/1, set_log_level/2]).
-export([start_link/1, init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-record(transport, {tab :: ets:tid(), size :: pos_integer(), counters :: counters:counters_ref(),
                    latency :: emqx_extension_hook_latency:histograms()}).

-type transport() :: #transport{}.
-export_type([transport/0]).

%% Per hook: calls, succeeded, failed, timed_out, dropped, saturated; then
%% restarts.
-define(FIELDS, 6).
-define(RESTARTS, (19 * ?FIELDS + 1)).
%% A process counts as hung when this many calls in a row timed out and it
%% has sent nothing for this many call timeouts (at most HUNG_SILENT_MAX_MS):
%% a stall shorter than that (the machine, a pause) times out every call in
%% flight at once, and killing the process for it would fail every call
%% until its restart.
-define(HUNG_AFTER, 10).
-define(HUNG_SILENT_MAX_MS, 10000).
-define(BACKOFF_MIN_MS, 100).
-define(BACKOFF_MAX_MS, 5000).
%% Bytes queued towards a process (in the port, and in commands from
%% callers waiting for the port) before it counts as busy (calls get the
%% failure policy at once), and below which it is free again: room for
%% bursts, with memory still bounded. The VM's default (8 KiB) refuses a
%% burst of a few dozen events.
-define(BUSY_HIGH, 8 * 1024 * 1024).
-define(BUSY_LOW, 2 * 1024 * 1024).

%% @doc Starts driver `Name''s processes, each running `Command'; the
%% transport and the declared hooks (`[{HookName, Mode}]'), once every
%% process has run the handler's init.
-spec start(binary(), {string(), [string()]}, emqx_extension_hook_config:opts()) ->
          {ok, transport(), [{binary(), atom()}]} | {error, term()}.
start(Name, {Exe, Args}, #{pool_size := Size, call_timeout := T, settings := Settings} = Opts) ->
    Tab = ets:new(exhook_port, [public, {read_concurrency, true}]),
    Counters = counters:new(?RESTARTS, [write_concurrency]),
    Init = {init, Name, Settings,
            (workers(Opts))#{pool_max => share(maps:get(pool_max, Opts), Size),
                             queue_capacity => share(maps:get(queue_capacity, Opts), Size),
                             log_level => emqx_extension_hook_log:level(),
                             node => node()}},
    Spec = fun(I) -> #{name => Name, index => I, tab => Tab, exe => Exe, args => Args,
                       init => Init, init_timeout => max(T, 10000), call_timeout => T,
                       counters => Counters}
           end,
    Transport = #transport{tab = Tab, size = Size, counters = Counters,
                           latency = emqx_extension_hook_latency:new()},
    start_all(Transport, [Spec(I) || I <- lists:seq(0, Size - 1)], undefined).

%% `pool_size' processes, each adding workers while its calls block; the
%% driver's `pool_max' and `queue_capacity' are shared out among them. A
%% native handler process keeps one warm worker: `pool_size' processes
%% give the driver `pool_size' handlers at work, as the NIF transport's
%% `pool_size' threads do. A JVM keeps its own default, since a JVM costs
%% a heap and a start-up each and a driver runs few of them.
workers(#{kind := java}) -> #{};
workers(_) -> #{pool_size => 1}.

share(Total, Parts) -> max(1, (Total + Parts - 1) div Parts).

%% Atoms a handler process may send in a reply. A reply is decoded with
%% `[safe]', which refuses an atom the node does not know, and in a broker
%% where none of our NIF libraries is loaded nothing else creates these.
reply_atoms() ->
    [reply, log, dropped, error, panic, failed, badarg, not_loaded, queue_full,
     saturated, exception, busy, timeout].

start_all(Transport, [], Declared) ->
    {ok, Transport, Declared};
start_all(Transport, [Spec | Rest], _) ->
    case supervisor:start_child(emqx_extension_hook_port_sup, [Spec]) of
        {ok, Pid} ->
            {ok, Declared} = gen_server:call(Pid, declared),
            start_all(Transport, Rest, Declared);
        {error, Reason} ->
            stop(Transport),
            {error, Reason}
    end.

%% @doc Stops taking calls, lets every process finish the calls it has
%% (their replies still reach their callers), runs each handler's deinit
%% and stops the processes. A caller that finds the instance stopped gets
%% `{error, stale}'.
-spec stop(transport()) -> ok.
stop(#transport{tab = Tab}) ->
    Servers = [Pid || {_, _Port, Pid} <- ets:tab2list(Tab)] ++ servers_restarting(Tab),
    ets:delete(Tab),
    [catch gen_server:stop(Pid, normal, 30000) || Pid <- lists:usort(Servers)],
    ok.

servers_restarting(Tab) ->
    [Pid || {{server, _}, Pid} <- ets:tab2list(Tab)].

%% @doc A fold hook: the handler's answer, or `{error, Reason}';
%% `{error, stale}' when this instance has stopped.
-spec call(transport(), 0..18, tuple(), pos_integer()) -> term().
call(#transport{tab = Tab, size = Size, counters = C, latency = L}, Index, Args, T) ->
    bump(C, Index, 1),
    case lookup(Tab, shard(Args, Size)) of
        [{_, Port, Server}] ->
            Alias = alias([reply]),
            Request = term_to_binary({call, Alias, Index, Args, T}),
            T0 = erlang:monotonic_time(microsecond),
            case send(Port, Request) of
                true ->
                    Result = await_reply(Alias, C, Index, T, Server),
                    emqx_extension_hook_latency:record(L, Index, erlang:monotonic_time(microsecond) - T0),
                    Result;
                false ->
                    unalias(Alias),
                    bump(C, Index, 5),
                    {error, busy};
                closed ->
                    unalias(Alias),
                    closed(Tab, C, Index)
            end;
        [] ->
            bump(C, Index, 3),
            {error, not_loaded};
        gone ->
            {error, stale}
    end.

%% The reply to the call sent with `Alias', within `T' ms.
await_reply(Alias, C, Index, T, Server) ->
    receive
        %% The process is stopping (a reload or disable): another instance
        %% may answer.
        {Alias, {error, not_loaded}} -> bump(C, Index, 3), {error, stale};
        %% Refused at once, as the NIF transport counts them.
        {Alias, {error, queue_full} = Error} -> bump(C, Index, 5), Error;
        {Alias, {error, saturated} = Error} -> bump(C, Index, 5), bump(C, Index, 6), Error;
        {Alias, {error, _} = Error} -> bump(C, Index, 3), Error;
        {Alias, Result} -> bump(C, Index, 2), Result
    after T ->
        unalias(Alias),
        receive {Alias, Late} -> bump(C, Index, 2), Late
        after 0 -> bump(C, Index, 4), gen_server:cast(Server, timed_out), {error, timeout}
        end
    end.

%% The process went between the lookup and the send: stopped with its
%% instance, or crashed (and is being restarted).
closed(Tab, C, Index) ->
    case ets:info(Tab, id) of
        undefined -> {error, stale};
        _ -> bump(C, Index, 3), {error, not_loaded}
    end.

%% @doc A notification: sent and not waited for. It counts as succeeded
%% once sent; a process whose queue is full reports it dropped.
-spec cast(transport(), 0..18, tuple(), pos_integer()) -> ok | {error, stale}.
cast(#transport{tab = Tab, size = Size, counters = C}, Index, Args, T) ->
    bump(C, Index, 1),
    case lookup(Tab, shard(Args, Size)) of
        [{_, Port, _}] ->
            case send(Port, term_to_binary({cast, Index, Args, T})) of
                true -> bump(C, Index, 2), ok;
                false -> bump(C, Index, 5), ok;
                closed ->
                    case closed(Tab, C, Index) of
                        {error, stale} = Stale -> Stale;
                        _ -> bump(C, Index, 5), ok
                    end
            end;
        [] ->
            bump(C, Index, 5),
            ok;
        gone ->
            {error, stale}
    end.

%% The process a shard goes to: none while it restarts; `gone' once the
%% instance has stopped (its table deleted).
lookup(Tab, Shard) ->
    try ets:lookup(Tab, Shard)
    catch error:badarg -> gone
    end.

%% A busy port refuses at once rather than suspending the client.
send(Port, Data) ->
    try erlang:port_command(Port, Data, [nosuspend])
    catch error:badarg -> closed
    end.

%% The process a client's events go to: by clientid (the publisher's for
%% message.publish and message.dropped), as the workers inside shard.
shard(Args, Size) ->
    erlang:phash2(clientid(element(1, Args)), Size).

clientid(#{clientid := Id}) -> Id;
clientid(Msg) when is_tuple(Msg), tuple_size(Msg) =:= 9, element(1, Msg) =:= message -> element(4, Msg);
clientid(_) -> undefined.

bump(C, Index, Field) ->
    counters:add(C, Index * ?FIELDS + Field, 1).

%% @doc The counters of each hook in `Hooks' and the restarts, as the NIF
%% transport reports them; the latency of a fold call is its round trip as
%% its caller waited for it (notifications are not waited for).
-spec stats(transport(), [0..18]) -> {non_neg_integer(), [{0..18, map()}]}.
stats(#transport{counters = C, latency = L}, Indexes) ->
    Get = fun(I, F) -> counters:get(C, I * ?FIELDS + F) end,
    Rows = [{I, #{calls => Get(I, 1), succeeded => Get(I, 2), failed => Get(I, 3),
                  timed_out => Get(I, 4), dropped => Get(I, 5), saturated => Get(I, 6),
                  overran => 0, queued => 0,
                  p50_us => emqx_extension_hook_latency:quantile(L, I, 0.5),
                  p99_us => emqx_extension_hook_latency:quantile(L, I, 0.99)}}
            || I <- Indexes],
    {counters:get(C, ?RESTARTS), Rows}.

%% @doc Has every process's handler log at the broker's level `Level'.
-spec set_log_level(transport(), logger:level()) -> ok.
set_log_level(#transport{tab = Tab}, Level) ->
    Frame = term_to_binary({log_level, Level}),
    [_ = send(Port, Frame) || {_, Port, _} <- ets:tab2list(Tab)],
    ok.

%% @doc The OS pids of the driver's processes (for tests and operators).
-spec os_pids(transport()) -> [non_neg_integer()].
os_pids(#transport{tab = Tab}) ->
    [Pid || {_, Port, _} <- ets:tab2list(Tab), {os_pid, Pid} <- [erlang:port_info(Port, os_pid)]].

%%--------------------------------------------------------------------
%% One process

%% @doc Starts the server of one handler process.
-spec start_link(map()) -> {ok, pid()} | {error, term()}.
start_link(Spec) ->
    gen_server:start_link(?MODULE, Spec, []).

-spec init(map()) -> {ok, map()} | {stop, term()}.
init(Spec) ->
    process_flag(trap_exit, true),
    case open(Spec) of
        {ok, Port, Declared} ->
            {ok, Spec#{port => Port, declared => Declared, backoff => ?BACKOFF_MIN_MS,
                       timeouts => 0, answered_at => now_ms()}};
        {error, Reason} ->
            {stop, Reason}
    end.

open(#{exe := Exe, args := Args, init := Init, init_timeout := Timeout} = Spec) ->
    Port = open_port({spawn_executable, Exe},
                     [{args, Args}, {packet, 4}, binary, exit_status, use_stdio,
                      {busy_limits_port, {?BUSY_LOW, ?BUSY_HIGH}},
                      {busy_limits_msgq, {?BUSY_LOW, ?BUSY_HIGH}}]),
    true = erlang:port_command(Port, term_to_binary(Init)),
    await_init(Port, Spec, erlang:monotonic_time(millisecond) + Timeout).

%% The init's answer. What the handler logs while its init runs (a
%% database it cannot reach yet, a print) comes first and goes to the
%% logger, as it does once the process runs.
await_init(Port, #{tab := Tab, index := I} = Spec, Deadline) ->
    Left = max(Deadline - erlang:monotonic_time(millisecond), 0),
    receive
        {Port, {data, Bin}} ->
            case safe_term(Bin) of
                {init_ok, Declared} ->
                    %% Unless the instance stopped meanwhile (its table gone).
                    catch ets:insert(Tab, {I, Port, self()}),
                    {ok, Port, Declared};
                {init_error, Why} ->
                    close(Port),
                    {error, {init_failed, Why}};
                Log when is_tuple(Log), element(1, Log) =:= log ->
                    deliver(Bin, Spec),
                    await_init(Port, Spec, Deadline);
                Other ->
                    close(Port),
                    {error, {bad_init_reply, Other}}
            end;
        {Port, {exit_status, Status}} ->
            {error, {exited, Status}}
    after Left ->
        close(Port),
        {error, init_timeout}
    end.

safe_term(Bin) ->
    _ = reply_atoms(),
    try binary_to_term(Bin, [safe])
    catch error:badarg -> bad_term
    end.

-spec handle_call(term(), gen_server:from(), map()) -> {reply, term(), map()}.
handle_call(declared, _From, #{declared := Declared} = S) ->
    {reply, {ok, Declared}, S};
handle_call(_Request, _From, S) ->
    {reply, {error, unknown_call}, S}.

-spec handle_cast(term(), map()) -> {noreply, map()}.
handle_cast(timed_out, #{timeouts := N, port := Port, answered_at := At, call_timeout := T} = S)
  when N + 1 >= ?HUNG_AFTER, is_port(Port) ->
    Silent = now_ms() - At,
    case Silent >= min(?HUNG_AFTER * T, ?HUNG_SILENT_MAX_MS) of
        true ->
            report(S, "no answer to ~b calls in a row, nothing sent for ~b ms: killing it", [N + 1, Silent]),
            kill(Port),
            {noreply, S#{timeouts => 0}};
        false ->
            {noreply, S#{timeouts => N + 1}}
    end;
handle_cast(timed_out, #{timeouts := N} = S) ->
    {noreply, S#{timeouts => N + 1}};
handle_cast(_Msg, S) ->
    {noreply, S}.

-spec handle_info(term(), map()) -> {noreply, map()}.
handle_info({Port, {data, Bin}}, #{port := Port} = S) ->
    case deliver(Bin, S) of
        answered -> {noreply, S#{timeouts => 0, answered_at => now_ms()}};
        %% Every worker the process may have is stuck in the handler: as
        %% hung as a process that does not answer at all.
        saturated -> handle_cast(timed_out, S);
        other -> {noreply, S}
    end;
handle_info({Port, {exit_status, Status}}, #{port := Port} = S) ->
    {noreply, down(io_lib:format("exited with status ~b", [Status]), S)};
%% A write to a process that died closes the port before its exit status
%% is read.
handle_info({'EXIT', Port, Reason}, #{port := Port} = S) ->
    {noreply, down(io_lib:format("is gone (~0p)", [Reason]), S)};
handle_info(restart, #{backoff := Backoff} = S) ->
    case open(S) of
        {ok, Port, _} ->
            catch ets:delete(maps:get(tab, S), {server, maps:get(index, S)}),
            {noreply, S#{port => Port, backoff => ?BACKOFF_MIN_MS, timeouts => 0, answered_at => now_ms()}};
        {error, Reason} ->
            Next = min(Backoff * 2, ?BACKOFF_MAX_MS),
            report(S, "restart failed: ~0p; retrying in ~b ms", [Reason, Next]),
            erlang:send_after(Next, self(), restart),
            {noreply, S#{backoff => Next}}
    end;
handle_info(_Info, S) ->
    {noreply, S}.

%% What the process sent: a reply goes to the caller's alias; a log
%% record to the broker's logger. Says whether a handler answered, for
%% telling a hung process from a working one: log records come from
%% threads of their own, and a saturated process refuses at once.
deliver(Bin, #{counters := C, name := Name}) ->
    case safe_term(Bin) of
        {reply, Alias, {error, saturated} = Result} when is_reference(Alias) ->
            Alias ! {Alias, Result},
            saturated;
        {reply, Alias, Result} when is_reference(Alias) ->
            Alias ! {Alias, Result},
            answered;
        {log, Level, Text, Meta} when is_atom(Level), is_binary(Text), is_map(Meta) ->
            emqx_extension_hook_log:emit(Name, Level, Text, Meta),
            other;
        {log, Level, Text} when is_atom(Level), is_binary(Text) ->
            emqx_extension_hook_log:emit(Name, Level, Text, #{}),
            other;
        {dropped, Index} when is_integer(Index), Index >= 0, Index < 19 ->
            %% A notification the process's full queue refused: it was
            %% counted as succeeded when sent.
            counters:sub(C, Index * ?FIELDS + 2, 1),
            counters:add(C, Index * ?FIELDS + 5, 1),
            other;
        _ ->
            other
    end.

%% The process is gone: callers get the failure policy (no entry in the
%% table) until a new one has run the handler's init. The table is gone
%% too once the instance stops.
down(Why, #{port := Port, tab := Tab, index := I, counters := C, backoff := Backoff} = S) ->
    close(Port),
    catch ets:delete(Tab, I),
    catch ets:insert(Tab, {{server, I}, self()}),
    counters:add(C, ?RESTARTS, 1),
    report(S, "~ts; restarting in ~b ms", [Why, Backoff]),
    erlang:send_after(Backoff, self(), restart),
    S#{port => undefined}.

%% The process finishes the calls it has read before its deinit; their
%% replies still go to their callers.
-spec terminate(term(), map()) -> ok.
terminate(_Reason, #{port := Port, tab := Tab, index := I} = S) when is_port(Port) ->
    catch ets:delete(Tab, I),
    catch erlang:port_command(Port, term_to_binary(deinit)),
    finish(Port, S, erlang:monotonic_time(millisecond) + 10000);
terminate(_Reason, _S) ->
    ok.

finish(Port, S, Until) ->
    receive
        {Port, {data, Bin}} ->
            deliver(Bin, S),
            finish(Port, S, Until);
        {Port, {exit_status, _}} ->
            ok
    after max(0, Until - erlang:monotonic_time(millisecond)) ->
        kill(Port)
    end.

now_ms() ->
    erlang:monotonic_time(millisecond).

close(Port) ->
    catch erlang:port_close(Port),
    ok.

%% A hung process may not read its input: closing the port is not enough.
kill(Port) ->
    case erlang:port_info(Port, os_pid) of
        {os_pid, Pid} -> os:cmd("kill -9 " ++ integer_to_list(Pid));
        undefined -> ok
    end,
    ok.

report(#{name := Name, index := I}, Format, Args) ->
    logger:warning("exhook driver ~ts: handler process ~b " ++ Format, [Name, I | Args],
                   #{domain => [emqx_extension_hook]}).
