%% @doc The body of every broker callback: hand the event to the driver's
%% NIF and give the broker the driver's decision, or the driver's failure
%% policy when there is none.
%%
%% The generated callbacks (see `emqx_extension_hook_stub') call `fold/4'
%% or `notify/4' with the hook's index, its name and its arguments as a
%% tuple.
-module(emqx_extension_hook_handler).

-include("emqx_extension_hook.hrl").

-export([fold/4, notify/4, call/3]).

%% @doc A fold hook: the handler's decision as the broker's return value.
-spec fold(#exhook_driver{}, 0..18, atom(), tuple()) -> term().
fold(Driver, Index, Point, Args) ->
    case call(Driver, Index, Args) of
        {error, Reason} ->
            failed(Driver, Point, Args, Reason),
            emqx_extension_hook_hooks:fold_failure(Point, Args, Driver#exhook_driver.failed_action);
        Decision ->
            Decision
    end.

%% @doc A notification hook: the broker ignores the result, so always `ok'.
-spec notify(#exhook_driver{}, 0..18, atom(), tuple()) -> ok.
notify(Driver, Index, Point, Args) ->
    case call(Driver, Index, Args) of
        {error, Reason} -> failed(Driver, Point, Args, Reason);
        _ -> ok
    end,
    ok.

%% @doc Runs hook `Index' of `Driver' on `Args'; the NIF's answer, or
%% `{error, not_loaded}' once the driver's module is gone. Handlers may
%% block on I/O, so the call runs on a dirty I/O scheduler and never on
%% the caller's normal scheduler.
-spec call(#exhook_driver{}, 0..18, tuple()) -> term().
call(#exhook_driver{module = M, resource = R, call_timeout = T}, Index, Args) ->
    try
        M:driver_call_dirty_io(R, Index, Args, T)
    catch
        error:undef -> {error, not_loaded};
        error:badarg -> {error, {badarg, <<"arguments the NIF refused">>}}
    end.

failed(#exhook_driver{name = Name}, Point, Args, Reason) ->
    logger:warning("exhook driver ~ts: ~ts failed for client ~ts: ~0p",
                   [Name, Point, clientid(Args), Reason],
                   #{domain => [emqx_extension_hook]}).

%% The clientid to name in a log line, never anything else from the event
%% (a ClientInfo also carries the password).
clientid(Args) when tuple_size(Args) > 0 ->
    case element(1, Args) of
        #{clientid := Id} when is_binary(Id) -> Id;
        Msg when element(1, Msg) =:= message, is_binary(element(4, Msg)) -> element(4, Msg);
        _ -> <<"?">>
    end;
clientid(_) -> <<"?">>.
