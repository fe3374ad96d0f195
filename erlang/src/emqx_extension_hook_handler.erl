%% @doc The body of every broker callback: hand the event to the driver's
%% NIF where the driver's mode for the hook says, and give the broker the
%% driver's decision, or the driver's failure policy when there is none.
%%
%% The generated callbacks (see `emqx_extension_hook_stub') call `fold/4'
%% or `notify/4' with the hook's index, its name and its arguments as a
%% tuple.
-module(emqx_extension_hook_handler).

-include("emqx_extension_hook.hrl").

-export([fold/4, notify/4]).

%% A reply the worker has committed to send is on its way; this bounds
%% the wait for it should it be lost all the same.
-define(REPLY_IN_FLIGHT_MS, 50).

%% @doc A hook that takes a decision: the handler's decision as the
%% broker's return value, within `call_timeout' in `pool' mode.
-spec fold(#exhook_driver{}, 0..18, atom(), tuple()) -> term().
fold(#exhook_driver{modes = Modes} = Driver, Index, Point, Args) ->
    count(Driver, Index),
    case call(element(Index + 1, Modes), Driver, Index, Args) of
        {error, _} ->
            emqx_extension_hook_hooks:fold_failure(Point, Args, Driver#exhook_driver.failed_action);
        Decision ->
            Decision
    end.

%% @doc A notification: queued to the driver's workers; returns at once.
-spec notify(#exhook_driver{}, 0..18, atom(), tuple()) -> ok.
notify(#exhook_driver{transport = {port, Transport}, call_timeout = T} = Driver, Index, _Point, Args) ->
    count(Driver, Index),
    emqx_extension_hook_port:cast(Transport, Index, Args, T);
notify(#exhook_driver{module = M, resource = R, call_timeout = T} = Driver, Index, _Point, Args) ->
    count(Driver, Index),
    try M:driver_cast(R, Index, Args, T) of
        _ -> ok
    catch
        error:Reason:Stack -> _ = stale(Reason, Stack), ok
    end.

%% The handler's answer, or `{error, _}' when there is none: the NIFs count
%% and report every failure, except a call that comes after its driver was
%% disabled (see `stale/2').
call(_Mode, #exhook_driver{transport = {port, Transport}, call_timeout = T}, Index, Args) ->
    emqx_extension_hook_port:call(Transport, Index, Args, T);
call(Mode, #exhook_driver{module = M, resource = R, call_timeout = T}, Index, Args) ->
    try
        case Mode of
            pool -> pool_call(M, R, Index, Args, T);
            inline -> M:driver_call(R, Index, Args, T);
            dirty_cpu -> M:driver_call_dirty_cpu(R, Index, Args, T);
            dirty_io -> M:driver_call_dirty_io(R, Index, Args, T)
        end
    catch
        error:Reason:Stack -> stale(Reason, Stack)
    end.

pool_call(M, R, Index, Args, T) ->
    Tag = make_ref(),
    case M:driver_submit(R, Index, Args, T, Tag) of
        {ok, Request} ->
            receive
                {Tag, Result} -> Result
            after T ->
                case abandon(M, Request, Args) of
                    abandoned -> {error, timeout};
                    replied ->
                        receive {Tag, Result} -> Result
                        after ?REPLY_IN_FLIGHT_MS -> {error, timeout}
                        end
                end
            end;
        {error, _} = Error ->
            Error
    end.

%% A driver disabled meanwhile answered every queued call before it went:
%% the reply is in the mailbox already.
abandon(M, Request, Args) ->
    try M:driver_abandon(Request, Args)
    catch error:Reason:Stack -> _ = stale(Reason, Stack), replied
    end.

%% What a NIF call raises when its driver is gone: after a disable the
%% driver's module is a stub without the library (`nif_not_loaded'); after
%% a reload the module holds a new library, which does not know the old
%% driver's resource (`badarg'). Nothing else raises: the NIFs answer bad
%% input with `{error, _}'.
stale(nif_not_loaded, _Stack) -> {error, not_loaded};
stale(badarg, _Stack) -> {error, not_loaded};
stale(undef, _Stack) -> {error, not_loaded};
stale(Reason, Stack) -> erlang:raise(error, Reason, Stack).

count(#exhook_driver{metrics = none}, _Index) -> ok;
count(#exhook_driver{metrics = Names}, Index) ->
    emqx_extension_hook_emqx:inc_metric(element(Index + 1, Names)).
