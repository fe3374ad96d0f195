package io.emqx.extension.handler;

/**
 * The answer to {@code client.connect} (before authentication), from
 * {@link DefaultCommunicationHandler#decideClientConnect}: go on, or refuse
 * the connection with an MQTT 5 CONNACK reason code (the broker maps it to
 * the MQTT 3.1.1 code for older clients).
 *
 * <pre>{@code
 * ConnectDecision d = ConnectDecision.refuse(ConnectDecision.BANNED);
 * assert !d.accepted() && d.reasonCode() == 0x8A;
 * }</pre>
 *
 * @param accepted whether the connection goes on
 * @param reasonCode the CONNACK reason code when refused (0x80..0xFF), else 0
 */
public record ConnectDecision(boolean accepted, int reasonCode) {

    /** 0x80 Unspecified error. */
    public static final int UNSPECIFIED_ERROR = 0x80;
    /** 0x85 Client Identifier not valid. */
    public static final int CLIENT_IDENTIFIER_NOT_VALID = 0x85;
    /** 0x86 Bad User Name or Password. */
    public static final int BAD_USERNAME_OR_PASSWORD = 0x86;
    /** 0x87 Not authorized. */
    public static final int NOT_AUTHORIZED = 0x87;
    /** 0x88 Server unavailable. */
    public static final int SERVER_UNAVAILABLE = 0x88;
    /** 0x89 Server busy. */
    public static final int SERVER_BUSY = 0x89;
    /** 0x8A Banned. */
    public static final int BANNED = 0x8A;
    /** 0x9F Connection rate exceeded. */
    public static final int CONNECTION_RATE_EXCEEDED = 0x9F;

    private static final ConnectDecision ACCEPT = new ConnectDecision(true, 0);

    /**
     * Checks the code.
     *
     * @param accepted whether the connection goes on
     * @param reasonCode the reason code when refused
     */
    public ConnectDecision {
        if (!accepted && (reasonCode < 0x80 || reasonCode > 0xFF)) {
            throw new IllegalArgumentException("a refusing CONNACK reason code is 0x80..0xFF, not " + reasonCode);
        }
        if (accepted && reasonCode != 0) {
            throw new IllegalArgumentException("an accepted connection has reason code 0");
        }
    }

    /**
     * Go on with the connection (authentication still follows).
     *
     * @return the decision
     */
    public static ConnectDecision accept() {
        return ACCEPT;
    }

    /**
     * Refuse the connection with {@code reasonCode} in the CONNACK.
     *
     * @param reasonCode 0x80..0xFF, e.g. {@link #BANNED}
     * @return the decision
     */
    public static ConnectDecision refuse(int reasonCode) {
        return new ConnectDecision(false, reasonCode);
    }
}
