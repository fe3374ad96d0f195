%% @doc The body of every broker callback: find the driver's instance that
%% answers now, hand the event to it where the driver's mode for the hook
%% says, and give the broker the handler's decision, or the driver's
%% failure policy when there is none.
%%
%% A caller may hold an instance that a reload has just replaced (it read
%% the key before the switch): when that instance is gone, the call is
%% made once more to the one that replaced it, so a reload never answers
%% a call with the failure policy.
-module(emqx_extension_hook_handler).

-include("emqx_extension_hook.hrl").

-export([fold/4, notify/3, key/1]).

-type key() :: {emqx_extension_hook_driver, binary()}.
-export_type([key/0]).

%% A reply the worker has committed to send is on its way; this bounds
%% the wait for it should it be lost all the same.
-define(REPLY_IN_FLIGHT_MS, 50).

%% @doc The persistent_term key of driver `Name'.
-spec key(binary()) -> key().
key(Name) -> {emqx_extension_hook_driver, Name}.

%% @doc A hook that takes a decision: the handler's decision as the
%% broker's return value, within `call_timeout' where the mode enforces it.
-spec fold(key(), 0..18, atom(), tuple()) -> term().
fold(Key, Index, Point, Args) ->
    case persistent_term:get(Key, undefined) of
        #exhook_driver{} = Driver ->
            decide(Driver, Key, Index, Point, Args);
        {retired, FailedAction} ->
            emqx_extension_hook_hooks:fold_failure(Point, Args, FailedAction);
        undefined ->
            ok
    end.

%% @doc A notification: queued to the driver's workers; returns at once.
-spec notify(key(), 0..18, tuple()) -> ok.
notify(Key, Index, Args) ->
    case persistent_term:get(Key, undefined) of
        #exhook_driver{} = Driver ->
            case cast(Driver, Index, Args) of
                {error, stale} -> retry_cast(Driver, Key, Index, Args);
                _ -> ok
            end;
        _ ->
            ok
    end.

decide(Driver, Key, Index, Point, Args) ->
    case call(Driver, Index, Args) of
        {error, stale} ->
            case successor(Driver, Key) of
                {ok, Next} -> decide(Next, Key, Index, Point, Args);
                none -> policy(Driver, Point, Args)
            end;
        {error, _} ->
            policy(Driver, Point, Args);
        Decision ->
            Decision
    end.

retry_cast(Driver, Key, Index, Args) ->
    case successor(Driver, Key) of
        {ok, Next} -> _ = cast(Next, Index, Args), ok;
        none -> ok
    end.

%% The instance that replaced `Driver', if a reload has.
successor(#exhook_driver{instance = I}, Key) ->
    case persistent_term:get(Key, undefined) of
        #exhook_driver{instance = J} = Next when J =/= I -> {ok, Next};
        _ -> none
    end.

policy(#exhook_driver{failed_action = FailedAction}, Point, Args) ->
    emqx_extension_hook_hooks:fold_failure(Point, Args, FailedAction).

%% The handler's answer; `{error, stale}' when the instance is gone (its
%% driver was disabled or reloaded since the caller read it), another
%% `{error, _}' when there is no answer. The NIFs count and report every
%% failure but these.
call(#exhook_driver{modes = Modes} = Driver, Index, Args) ->
    case element(Index + 1, Modes) of
        none -> ok;
        Mode -> call(Mode, Driver, Index, Args)
    end.

call(_Mode, #exhook_driver{transport = {port, Transport}, call_timeout = T}, Index, Args) ->
    emqx_extension_hook_port:call(Transport, Index, Args, T);
call(Mode, #exhook_driver{module = M, resource = R, call_timeout = T}, Index, Args) ->
    try
        stale(case Mode of
                  pool -> pool_call(M, R, Index, Args, T);
                  inline -> M:driver_call(R, Index, Args, T);
                  dirty_cpu -> M:driver_call_dirty_cpu(R, Index, Args, T);
                  dirty_io -> M:driver_call_dirty_io(R, Index, Args, T)
              end)
    catch
        error:Reason:Stack -> gone(Reason, Stack)
    end.

cast(#exhook_driver{modes = Modes} = Driver, Index, Args) ->
    case element(Index + 1, Modes) of
        none -> ok;
        cast -> cast_to(Driver, Index, Args)
    end.

cast_to(#exhook_driver{transport = {port, Transport}, call_timeout = T}, Index, Args) ->
    emqx_extension_hook_port:cast(Transport, Index, Args, T);
cast_to(#exhook_driver{module = M, resource = R, call_timeout = T}, Index, Args) ->
    try stale(M:driver_cast(R, Index, Args, T))
    catch error:Reason:Stack -> gone(Reason, Stack)
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

%% A driver stopped meanwhile answered every queued call before it went:
%% the reply is in the mailbox already.
abandon(M, Request, Args) ->
    try M:driver_abandon(Request, Args)
    catch error:Reason:Stack -> _ = gone(Reason, Stack), replied
    end.

%% The NIFs answer `{error, not_loaded}' once the driver's instance has
%% stopped.
stale({error, not_loaded}) -> {error, stale};
stale(Result) -> Result.

%% What a NIF call raises when its instance is gone: its module then holds
%% a stub without the library (`nif_not_loaded'), or a new library that
%% does not know the old instance's resource (`badarg'). Nothing else
%% raises: the NIFs answer bad input with `{error, _}'.
gone(nif_not_loaded, _Stack) -> {error, stale};
gone(badarg, _Stack) -> {error, stale};
gone(undef, _Stack) -> {error, stale};
gone(Reason, Stack) -> erlang:raise(error, Reason, Stack).
