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

-export([start/3, stop/1, call/4, cast/4, stats/2, os_pids/1]).
-export([start_link/1, init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-record(transport, {tab :: ets:tid(), size :: pos_integer(), counters :: counters:counters_ref()}).

-type transport() :: #transport{}.
-export_type([transport/0]).

%% Per hook: calls, succeeded, failed, timed_out, dropped; then restarts.
-define(FIELDS, 5).
-define(RESTARTS, (19 * ?FIELDS + 1)).
%% Consecutive timeouts without a reply after which a process counts as hung.
-define(HUNG_AFTER, 10).
-define(BACKOFF_MIN_MS, 100).
-define(BACKOFF_MAX_MS, 5000).
%% Bytes queued towards a process (in the port, and in commands from
%% callers waiting for the port) before it counts as busy (calls get the
%% failure policy at once), and below which it is free again: room for
%% bursts, with memory still bounded. The VM's default (8 KiB) refuses a
%% burst of a few dozen events.
-define(BUSY_HIGH, 8 * 1024 * 1024).
-define(BUSY_LOW, 2 * 1024 * 1024).

%% @doc Starts driver `Name''s processes; the transport and the declared
%% hooks (`[{HookName, Mode}]'), once every process has run the handler's init.
-spec start(binary(), string(), emqx_extension_hook_config:opts()) ->
          {ok, transport(), [{binary(), atom()}]} | {error, term()}.
start(Name, Path, #{pool_size := Size, call_timeout := T, settings := Settings} = Opts) ->
    case command(Path) of
        {ok, Exe, Args} ->
            Tab = ets:new(exhook_port, [public, {read_concurrency, true}]),
            Counters = counters:new(?RESTARTS, [write_concurrency]),
            %% One warm worker a process: `pool_size' processes give the
            %% driver `pool_size' handlers at work, as the NIF transport's
            %% `pool_size' threads do. Each process adds workers while its
            %% calls block; the driver's `pool_max' and `queue_capacity'
            %% are shared out among the processes.
            Init = {init, Name, Settings,
                    #{pool_size => 1,
                      pool_max => share(maps:get(pool_max, Opts), Size),
                      queue_capacity => share(maps:get(queue_capacity, Opts), Size)}},
            Spec = fun(I) -> #{name => Name, index => I, tab => Tab, exe => Exe, args => Args,
                               init => Init, init_timeout => max(T, 10000), counters => Counters}
                   end,
            Transport = #transport{tab = Tab, size = Size, counters = Counters},
            start_all(Transport, [Spec(I) || I <- lists:seq(0, Size - 1)], undefined);
        {error, _} = E ->
            E
    end.

share(Total, Parts) -> max(1, (Total + Parts - 1) div Parts).

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

%% A handler library runs in the SDK's launcher; anything else is run as is.
command(Path) ->
    case filename:extension(Path) of
        ".so" ->
            Launcher = filename:join(code:priv_dir(emqx_extension_hook), "emqx_exhook_port"),
            case filelib:is_regular(Launcher) of
                true -> {ok, Launcher, [Path]};
                false -> {error, {launcher_missing, Launcher}}
            end;
        _ ->
            case filelib:is_regular(Path) of
                true -> {ok, Path, []};
                false -> {error, {no_executable, Path}}
            end
    end.

%% @doc Runs every process's handler deinit and stops the processes.
-spec stop(transport()) -> ok.
stop(#transport{tab = Tab}) ->
    Servers = [Pid || {_, _Port, Pid} <- ets:tab2list(Tab)] ++ servers_restarting(Tab),
    [catch gen_server:stop(Pid, normal, 30000) || Pid <- lists:usort(Servers)],
    ets:delete(Tab),
    ok.

servers_restarting(Tab) ->
    [Pid || {{server, _}, Pid} <- ets:tab2list(Tab)].

%% @doc A fold hook: the handler's answer, or `{error, Reason}'.
-spec call(transport(), 0..18, tuple(), pos_integer()) -> term().
call(#transport{tab = Tab, size = Size, counters = C}, Index, Args, T) ->
    bump(C, Index, 1),
    case lookup(Tab, shard(Args, Size)) of
        [{_, Port, Server}] ->
            Alias = alias([reply]),
            Request = term_to_binary({call, Alias, Index, Args, T}),
            case send(Port, Request) of
                true ->
                    receive
                        {Alias, {error, _} = Error} -> bump(C, Index, 3), Error;
                        {Alias, Result} -> bump(C, Index, 2), Result
                    after T ->
                        unalias(Alias),
                        receive {Alias, Late} -> bump(C, Index, 2), Late
                        after 0 -> bump(C, Index, 4), gen_server:cast(Server, timed_out), {error, timeout}
                        end
                    end;
                false ->
                    unalias(Alias),
                    bump(C, Index, 5),
                    {error, busy}
            end;
        [] ->
            bump(C, Index, 3),
            {error, not_loaded}
    end.

%% @doc A notification: sent and not waited for. It counts as succeeded
%% once sent; a process whose queue is full reports it dropped.
-spec cast(transport(), 0..18, tuple(), pos_integer()) -> ok.
cast(#transport{tab = Tab, size = Size, counters = C}, Index, Args, T) ->
    bump(C, Index, 1),
    case lookup(Tab, shard(Args, Size)) of
        [{_, Port, _}] ->
            case send(Port, term_to_binary({cast, Index, Args, T})) of
                true -> bump(C, Index, 2);
                false -> bump(C, Index, 5)
            end;
        [] ->
            bump(C, Index, 5)
    end,
    ok.

%% The process a shard goes to; none while it restarts, or once the
%% driver is being disabled (its table gone).
lookup(Tab, Shard) ->
    try ets:lookup(Tab, Shard)
    catch error:badarg -> []
    end.

%% A busy port refuses at once rather than suspending the client.
send(Port, Data) ->
    try erlang:port_command(Port, Data, [nosuspend])
    catch error:badarg -> false
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
%% transport reports them (latencies are measured by the NIF transport only).
-spec stats(transport(), [0..18]) -> {non_neg_integer(), [{0..18, map()}]}.
stats(#transport{counters = C}, Indexes) ->
    Get = fun(I, F) -> counters:get(C, I * ?FIELDS + F) end,
    Rows = [{I, #{calls => Get(I, 1), succeeded => Get(I, 2), failed => Get(I, 3),
                  timed_out => Get(I, 4), dropped => Get(I, 5), overran => 0, queued => 0,
                  p50_us => 0.0, p99_us => 0.0}} || I <- Indexes],
    {counters:get(C, ?RESTARTS), Rows}.

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
                       timeouts => 0}};
        {error, Reason} ->
            {stop, Reason}
    end.

open(#{exe := Exe, args := Args, init := Init, init_timeout := Timeout, tab := Tab, index := I}) ->
    Port = open_port({spawn_executable, Exe},
                     [{args, Args}, {packet, 4}, binary, exit_status, use_stdio,
                      {busy_limits_port, {?BUSY_LOW, ?BUSY_HIGH}},
                      {busy_limits_msgq, {?BUSY_LOW, ?BUSY_HIGH}}]),
    true = erlang:port_command(Port, term_to_binary(Init)),
    receive
        {Port, {data, Bin}} ->
            case safe_term(Bin) of
                {init_ok, Declared} ->
                    ets:insert(Tab, {I, Port, self()}),
                    {ok, Port, Declared};
                {init_error, Why} ->
                    close(Port),
                    {error, {init_failed, Why}};
                Other ->
                    close(Port),
                    {error, {bad_init_reply, Other}}
            end;
        {Port, {exit_status, Status}} ->
            {error, {exited, Status}}
    after Timeout ->
        close(Port),
        {error, init_timeout}
    end.

safe_term(Bin) ->
    try binary_to_term(Bin, [safe])
    catch error:badarg -> bad_term
    end.

-spec handle_call(term(), gen_server:from(), map()) -> {reply, term(), map()}.
handle_call(declared, _From, #{declared := Declared} = S) ->
    {reply, {ok, Declared}, S};
handle_call(_Request, _From, S) ->
    {reply, {error, unknown_call}, S}.

-spec handle_cast(term(), map()) -> {noreply, map()}.
handle_cast(timed_out, #{timeouts := N, port := Port} = S) when N + 1 >= ?HUNG_AFTER, is_port(Port) ->
    report(S, "no answer to ~b calls in a row: killing it", [N + 1]),
    kill(Port),
    {noreply, S#{timeouts => 0}};
handle_cast(timed_out, #{timeouts := N} = S) ->
    {noreply, S#{timeouts => N + 1}};
handle_cast(_Msg, S) ->
    {noreply, S}.

-spec handle_info(term(), map()) -> {noreply, map()}.
handle_info({Port, {data, Bin}}, #{port := Port, counters := C} = S) ->
    case safe_term(Bin) of
        {reply, Alias, Result} when is_reference(Alias) ->
            Alias ! {Alias, Result};
        {dropped, Index} when is_integer(Index), Index >= 0, Index < 19 ->
            %% A notification the process's full queue refused: it was
            %% counted as succeeded when sent.
            counters:sub(C, Index * ?FIELDS + 2, 1),
            counters:add(C, Index * ?FIELDS + 5, 1);
        _ ->
            ok
    end,
    {noreply, S#{timeouts => 0}};
handle_info({Port, {exit_status, Status}}, #{port := Port} = S) ->
    {noreply, down(io_lib:format("exited with status ~b", [Status]), S)};
%% A write to a process that died closes the port before its exit status
%% is read.
handle_info({'EXIT', Port, Reason}, #{port := Port} = S) ->
    {noreply, down(io_lib:format("is gone (~0p)", [Reason]), S)};
handle_info(restart, #{backoff := Backoff} = S) ->
    case open(S) of
        {ok, Port, _} ->
            ets:delete(maps:get(tab, S), {server, maps:get(index, S)}),
            {noreply, S#{port => Port, backoff => ?BACKOFF_MIN_MS, timeouts => 0}};
        {error, Reason} ->
            Next = min(Backoff * 2, ?BACKOFF_MAX_MS),
            report(S, "restart failed: ~0p; retrying in ~b ms", [Reason, Next]),
            erlang:send_after(Next, self(), restart),
            {noreply, S#{backoff => Next}}
    end;
handle_info(_Info, S) ->
    {noreply, S}.

%% The process is gone: callers get the failure policy (no entry in the
%% table) until a new one has run the handler's init.
down(Why, #{port := Port, tab := Tab, index := I, counters := C, backoff := Backoff} = S) ->
    close(Port),
    ets:delete(Tab, I),
    ets:insert(Tab, {{server, I}, self()}),
    counters:add(C, ?RESTARTS, 1),
    report(S, "~ts; restarting in ~b ms", [Why, Backoff]),
    erlang:send_after(Backoff, self(), restart),
    S#{port => undefined}.

-spec terminate(term(), map()) -> ok.
terminate(_Reason, #{port := Port, tab := Tab, index := I}) when is_port(Port) ->
    catch ets:delete(Tab, I),
    catch erlang:port_command(Port, term_to_binary(deinit)),
    receive
        {Port, {exit_status, _}} -> ok
    after 10000 ->
        kill(Port)
    end;
terminate(_Reason, _S) ->
    ok.

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
