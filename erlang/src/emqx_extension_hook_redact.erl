%% @doc What may be shown of text that can hold a secret, for replies
%% that leave the node (the HTTP API).
%%
%% <ul>
%% <li>`url/1': a URL with the password of its user info and the value of
%%     every query parameter replaced by `******', its fragment removed
%%     (`postgres://app:pw@db/app?sslpassword=x' is shown as
%%     `postgres://app:******@db/app?sslpassword=******').</li>
%% <li>`setting/1': a handler setting's value. The plugin cannot tell which
%%     of a handler's own settings are secrets (a `handler.pin' or an
%%     `handler.api_key' looks like any other text), so only a value that is
%%     one URL is shown, as `url/1' gives it; any other value is
%%     `******'.</li>
%% <li>`text/1': free text (an error message, which may quote a config
%%     value or carry a handler's own message): every URL in it as `url/1'
%%     gives it, and the value of every `password=', `secret=', `token=' or
%%     `key=' pair hidden.</li>
%% </ul>
-module(emqx_extension_hook_redact).

-export([url/1, setting/1, text/1]).

-define(HIDDEN, "******").
%% A URL (RFC 3986 scheme, then `://'), up to a blank or a quote.
-define(URL, "[A-Za-z][A-Za-z0-9+.-]*://[^\\s\"'<>`]+").
%% `password=...' and the like, outside URLs.
-define(SECRET_PAIR, "(?i)\\b([A-Za-z_]*(?:password|passwd|pwd|secret|token|key))(\\s*[=:]\\s*)"
                     "(?!\\*{6})[^\\s&;,\"')]+").

%% @doc URL `Url' with its password and query values hidden, its
%% fragment removed.
-spec url(unicode:chardata()) -> binary().
url(Url) ->
    [Scheme, Rest] = binary:split(unicode:characters_to_binary(Url), <<"://">>),
    [NoFragment | _] = binary:split(Rest, <<"#">>),
    {Main, Query} = case binary:split(NoFragment, <<"?">>) of
                        [M, Q] -> {M, Q};
                        [M] -> {M, none}
                    end,
    <<Scheme/binary, "://", (main(Main))/binary, (query(Query))/binary>>.

%% @doc The value of a handler setting as it may be shown.
-spec setting(unicode:chardata()) -> binary().
setting(Value) ->
    Bin = unicode:characters_to_binary(Value),
    case re:run(Bin, "^" ?URL "$", [unicode, {capture, none}]) of
        match -> url(Bin);
        nomatch -> <<?HIDDEN>>
    end.

%% @doc Free text with the secrets it may hold hidden.
-spec text(unicode:chardata()) -> binary().
text(Text) ->
    Bin = unicode:characters_to_binary(Text),
    Urls = case re:run(Bin, ?URL, [unicode, global, {capture, first, index}]) of
               {match, Found} -> replace_urls(Bin, 0, [Match || [Match] <- Found]);
               nomatch -> Bin
           end,
    re:replace(Urls, ?SECRET_PAIR, "\\1\\2" ?HIDDEN, [unicode, global, {return, binary}]).

%% `Bin' from byte `At' on, each URL at `{Start, Length}' hidden.
replace_urls(Bin, At, []) ->
    binary:part(Bin, At, byte_size(Bin) - At);
replace_urls(Bin, At, [{Start, Length} | Rest]) ->
    <<(binary:part(Bin, At, Start - At))/binary, (url(binary:part(Bin, Start, Length)))/binary,
      (replace_urls(Bin, Start + Length, Rest))/binary>>.

%% The user info ends at the last `@' before the query: a password may
%% hold an `/' or `@' its owner did not encode, and all of it is hidden.
%% Without an `@', a `:' not followed by a port is a password that a `?'
%% or `#' in it cut short: hidden, with all that follows.
main(Main) ->
    case string:split(Main, <<"@">>, trailing) of
        [UserInfo, HostPath] ->
            <<(user(UserInfo))/binary, "@", HostPath/binary>>;
        [_] ->
            [Authority | _] = binary:split(Main, <<"/">>),
            case re:run(Authority, "^[^\\[]*:(?![0-9]*$)", [{capture, none}]) of
                match -> user(Authority);
                nomatch -> Main
            end
    end.

user(UserInfo) ->
    case binary:split(UserInfo, <<":">>) of
        [Name, _Password] -> <<Name/binary, ":" ?HIDDEN>>;
        [Name] -> Name
    end.

%% Every value hidden; a part without `=' may be the tail of a password.
query(none) -> <<>>;
query(Query) ->
    Pairs = [case binary:split(Pair, <<"=">>) of
                 [Key, _Value] -> <<Key/binary, "=" ?HIDDEN>>;
                 [_] -> <<?HIDDEN>>
             end || Pair <- binary:split(Query, <<"&">>, [global])],
    iolist_to_binary(["?" | lists:join("&", Pairs)]).
