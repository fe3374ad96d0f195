%% A logger handler for tests: every log event of the node goes, as
%% `{exhook_log, Level, Text, Meta}', to the process that started the
%% capture, so a case can wait for the lines it expects to reach OTP logger.
-module(exhook_log_capture).

-export([start/0, stop/0, await/2, log/2]).

-define(HANDLER, exhook_log_capture).

%% Sends every event from now on to the calling process (until stop/0).
start() ->
    _ = logger:remove_handler(?HANDLER),
    ok = logger:add_handler(?HANDLER, ?MODULE, #{level => all, config => #{pid => self()}}).

stop() ->
    _ = logger:remove_handler(?HANDLER),
    ok.

%% Waits up to `Ms' for an event `Match(Level, Text, Meta)' accepts; the
%% events it skips are dropped. `{Level, Text, Meta}', or `timeout'.
await(Match, Ms) ->
    Until = erlang:monotonic_time(millisecond) + Ms,
    await_until(Match, Until).

await_until(Match, Until) ->
    Left = max(0, Until - erlang:monotonic_time(millisecond)),
    receive
        {exhook_log, Level, Text, Meta} ->
            case Match(Level, Text, Meta) of
                true -> {Level, Text, Meta};
                false -> await_until(Match, Until)
            end
    after Left ->
        timeout
    end.

%% logger's handler callback.
log(#{level := Level, msg := Msg, meta := Meta}, #{config := #{pid := Pid}}) ->
    Pid ! {exhook_log, Level, text(Msg, Meta), Meta},
    ok.

text({string, S}, _Meta) -> unicode:characters_to_binary(S);
text({report, Report}, Meta) ->
    case Meta of
        #{report_cb := Cb} when is_function(Cb, 1) ->
            {Format, Args} = Cb(Report),
            iolist_to_binary(io_lib:format(Format, Args));
        _ ->
            iolist_to_binary(io_lib:format("~0p", [Report]))
    end;
text({Format, Args}, _Meta) -> unicode:characters_to_binary(io_lib:format(Format, Args)).
