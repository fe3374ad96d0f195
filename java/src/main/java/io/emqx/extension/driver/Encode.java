package io.emqx.extension.driver;

import io.emqx.extension.etf.Term;
import io.emqx.extension.etf.Term.Atom;
import io.emqx.extension.etf.Term.ErlMap;
import io.emqx.extension.etf.Term.Tuple;
import io.emqx.extension.handler.AclDecision;
import io.emqx.extension.handler.AuthDecision;
import io.emqx.extension.handler.ConnectDecision;
import io.emqx.extension.handler.DeliveredDecision;
import io.emqx.extension.handler.FilterDecision;
import io.emqx.extension.handler.MessageRewrite;
import io.emqx.extension.handler.PublishDecision;
import java.util.ArrayList;
import java.util.List;

/**
 * Decisions turned into exactly the return value the broker's hook fold
 * expects ({@code {ok, Acc}} goes on with Acc, {@code {stop, Acc}} ends the
 * chain with Acc, {@code ok} goes on unchanged): the same terms as the Rust
 * SDK's {@code encode.rs} builds.
 */
public final class Encode {

    static final Atom STOP = Term.atom("stop");
    static final Atom ERROR = Term.atom("error");
    static final Atom ALLOW = Term.atom("allow");
    static final Atom DENY = Term.atom("deny");
    static final Atom AUTH_RESULT = Term.atom("auth_result");
    static final Atom ANONYMOUS = Term.atom("anonymous");
    static final Atom IS_SUPERUSER = Term.atom("is_superuser");
    static final Atom SUCCESS = Term.atom("success");
    static final Atom NOT_AUTHORIZED = Term.atom("not_authorized");
    static final Atom DENY_SUBSCRIPTION = Term.atom("deny_subscription");
    static final Atom ALLOW_PUBLISH = Term.atom("allow_publish");

    private Encode() {}

    /**
     * {@code ok}: the broker goes on with the accumulator it had.
     *
     * @return {@code ok}
     */
    public static Term unchanged() {
        return Term.OK;
    }

    static Term okWith(Term acc) {
        return Term.tuple(Term.OK, acc);
    }

    static Term stopWith(Term acc) {
        return Term.tuple(STOP, acc);
    }

    /**
     * {@code client.connect}: {@code ok}, or {@code {stop, {error, Code}}}.
     *
     * @param d the decision
     * @return the term
     */
    public static Term connect(ConnectDecision d) {
        return d.accepted() ? unchanged() : stopWith(Term.tuple(ERROR, Term.integer(d.reasonCode())));
    }

    /**
     * {@code client.authenticate}: the accumulator {@code #{auth_result, anonymous}}
     * with the result, {@code anonymous => false} and {@code is_superuser} put in.
     *
     * @param acc the accumulator the broker passed
     * @param d the decision
     * @return the term
     */
    public static Term authenticate(Term acc, AuthDecision d) {
        ErlMap map = Decode.map("client.authenticate accumulator", acc);
        if (d == AuthDecision.IGNORE) {
            return unchanged();
        }
        Atom result = d == AuthDecision.DENY ? NOT_AUTHORIZED : SUCCESS;
        return stopWith(map.with(AUTH_RESULT, result)
                .with(ANONYMOUS, Term.FALSE)
                .with(IS_SUPERUSER, Term.bool(d == AuthDecision.ALLOW_SUPERUSER)));
    }

    /**
     * {@code client.check_acl}: {@code {stop, allow | deny}} or {@code ok}.
     *
     * @param d the decision
     * @return the term
     */
    public static Term checkAcl(AclDecision d) {
        switch (d) {
            case ALLOW:
                return stopWith(ALLOW);
            case DENY:
                return stopWith(DENY);
            default:
                return unchanged();
        }
    }

    /**
     * {@code client.subscribe}: the new {@code [{Filter, SubOpts}]}, or
     * {@code ok} when every filter is kept.
     *
     * @param pairs the broker's pairs
     * @param decisions one per pair
     * @return the term
     */
    public static Term subscribe(List<Tuple> pairs, List<FilterDecision> decisions) {
        boolean allKept = true;
        for (FilterDecision d : decisions) {
            allKept &= d.kind() == FilterDecision.Kind.KEEP;
        }
        if (allKept) {
            return unchanged();
        }
        List<Term> out = new ArrayList<>(pairs.size());
        for (int i = 0; i < pairs.size(); i++) {
            Tuple pair = pairs.get(i);
            FilterDecision d = decisions.get(i);
            switch (d.kind()) {
                case REWRITE:
                    out.add(Term.tuple(Term.binary(d.filter()), pair.get(1)));
                    break;
                case DENY:
                    out.add(Term.tuple(pair.get(0),
                            Decode.map("SubOpts", pair.get(1)).with(DENY_SUBSCRIPTION, Term.TRUE)));
                    break;
                default:
                    out.add(pair);
            }
        }
        return okWith(Term.list(out));
    }

    /**
     * {@code message.publish}: a rewrite goes on down the chain; a drop sets
     * {@code allow_publish => false} in the headers and ends the chain.
     *
     * @param record the {@code #message{}} record
     * @param d the decision
     * @return the term
     */
    public static Term publish(Tuple record, PublishDecision d) {
        switch (d.kind()) {
            case REWRITE:
                return okWith(rewrite(record, d.rewrite()));
            case DROP:
                List<Term> f = new ArrayList<>(record.elements());
                f.set(5, Decode.map("message headers", f.get(5)).with(ALLOW_PUBLISH, Term.FALSE));
                return stopWith(new Tuple(List.copyOf(f)));
            default:
                return unchanged();
        }
    }

    /**
     * {@code message.delivered}: {@code {ok, Msg}} with the change, or {@code ok}.
     *
     * @param record the {@code #message{}} record
     * @param d the decision
     * @return the term
     */
    public static Term delivered(Tuple record, DeliveredDecision d) {
        return d.rewrite() == null ? unchanged() : okWith(rewrite(record, d.rewrite()));
    }

    static Tuple rewrite(Tuple record, MessageRewrite r) {
        List<Term> f = new ArrayList<>(record.elements());
        if (r.getQos() != null) {
            f.set(2, Term.integer(r.getQos()));
        }
        if (r.getTopic() != null) {
            f.set(6, Term.binary(r.getTopic()));
        }
        byte[] payload = r.getPayload();
        if (payload != null) {
            f.set(7, new Term.Binary(payload));
        }
        return new Tuple(List.copyOf(f));
    }
}
