%% JSON for the HTTP API suite, as strict as EMQX 4.4's encoder is
%% documented: maps with atom or binary keys, lists, UTF-8 binaries,
%% integers and floats, `true', `false', `null'. Any other term (a tuple,
%% another atom such as `undefined', a pid, an improper list, a binary
%% that is not UTF-8) is an error, so a reply that EMQX could not encode
%% fails the test that produced it. `decode/1' reads what a client of the
%% API reads: objects as maps with binary keys.
-module(exhook_json).

-export([encode/1, decode/1]).

%%--------------------------------------------------------------------
%% Encoding

encode(Term) ->
    iolist_to_binary(value(Term)).

value(true) -> <<"true">>;
value(false) -> <<"false">>;
value(null) -> <<"null">>;
value(N) when is_integer(N) -> integer_to_binary(N);
value(F) when is_float(F) -> float_to_binary(F, [short]);
value(B) when is_binary(B) -> string(B);
value(M) when is_map(M) ->
    Keys = [key(K) || K <- maps:keys(M)],
    length(lists:usort(Keys)) =:= length(Keys) orelse error({duplicate_json_keys, M}),
    Members = [[key(K), $:, value(V)] || {K, V} <- lists:sort(maps:to_list(M))],
    [${, lists:join($,, Members), $}];
value(L) when is_list(L) ->
    [$[, lists:join($,, elements(L, L)), $]];
value(Other) ->
    error({not_json, Other}).

elements([], _Whole) -> [];
elements([H | T], Whole) -> [value(H) | elements(T, Whole)];
elements(_Improper, Whole) -> error({not_json, Whole}).

key(K) when is_atom(K), K =/= true, K =/= false, K =/= null -> key(atom_to_binary(K, utf8));
key(K) when is_binary(K) -> iolist_to_binary(string(K));
key(K) -> error({not_json_key, K}).

string(B) ->
    case unicode:characters_to_list(B, utf8) of
        Chars when is_list(Chars) -> [$", [escape(C) || C <- Chars], $"];
        _ -> error({not_utf8, B})
    end.

escape($") -> <<"\\\"">>;
escape($\\) -> <<"\\\\">>;
escape($\n) -> <<"\\n">>;
escape($\r) -> <<"\\r">>;
escape($\t) -> <<"\\t">>;
escape(C) when C < 16#20 -> io_lib:format("\\u~4.16.0b", [C]);
escape(C) -> <<C/utf8>>.

%%--------------------------------------------------------------------
%% Decoding

decode(Bin) when is_binary(Bin) ->
    {Value, Rest} = parse(skip(Bin)),
    case skip(Rest) of
        <<>> -> Value;
        Trailing -> error({trailing, Trailing})
    end.

parse(<<"{", R/binary>>) -> object(skip(R), #{});
parse(<<"[", R/binary>>) -> array(skip(R), []);
parse(<<"\"", R/binary>>) -> chars(R, []);
parse(<<"true", R/binary>>) -> {true, R};
parse(<<"false", R/binary>>) -> {false, R};
parse(<<"null", R/binary>>) -> {null, R};
parse(Bin) -> number(Bin).

object(<<"}", R/binary>>, Acc) when map_size(Acc) =:= 0 -> {Acc, R};
object(<<"\"", R/binary>>, Acc) ->
    {Key, R1} = chars(R, []),
    <<":", R2/binary>> = skip(R1),
    {Value, R3} = parse(skip(R2)),
    false = maps:is_key(Key, Acc),
    case skip(R3) of
        <<",", R4/binary>> -> object(skip(R4), Acc#{Key => Value});
        <<"}", R4/binary>> -> {Acc#{Key => Value}, R4}
    end.

array(<<"]", R/binary>>, []) -> {[], R};
array(Bin, Acc) ->
    {Value, R1} = parse(Bin),
    case skip(R1) of
        <<",", R2/binary>> -> array(skip(R2), [Value | Acc]);
        <<"]", R2/binary>> -> {lists:reverse([Value | Acc]), R2}
    end.

chars(<<"\"", R/binary>>, Acc) -> {unicode:characters_to_binary(lists:reverse(Acc)), R};
chars(<<"\\u", Hex:4/binary, R/binary>>, Acc) -> chars(R, [binary_to_integer(Hex, 16) | Acc]);
chars(<<"\\", C, R/binary>>, Acc) ->
    Unescaped = case C of
                    $" -> $"; $\\ -> $\\; $/ -> $/; $b -> $\b; $f -> $\f;
                    $n -> $\n; $r -> $\r; $t -> $\t
                end,
    chars(R, [Unescaped | Acc]);
chars(<<C/utf8, R/binary>>, Acc) when C >= 16#20 -> chars(R, [C | Acc]).

number(Bin) ->
    {match, [Text]} = re:run(Bin, "^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][-+]?[0-9]+)?",
                             [{capture, first, binary}]),
    Rest = binary:part(Bin, byte_size(Text), byte_size(Bin) - byte_size(Text)),
    Value = case re:run(Text, "[.eE]", [{capture, none}]) of
                match -> float_from(Text);
                nomatch -> binary_to_integer(Text)
            end,
    {Value, Rest}.

%% Erlang reads only floats with a fraction: 1e3 is 1.0e3.
float_from(Text) ->
    case binary:match(Text, <<".">>) of
        nomatch ->
            [Mantissa, Exp] = re:split(Text, "[eE]"),
            binary_to_float(<<Mantissa/binary, ".0e", Exp/binary>>);
        _ ->
            binary_to_float(Text)
    end.

skip(<<C, R/binary>>) when C =:= $\s; C =:= $\t; C =:= $\n; C =:= $\r -> skip(R);
skip(Bin) -> Bin.
