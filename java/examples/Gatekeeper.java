import io.emqx.extension.handler.ActionOptionConfig;
import io.emqx.extension.handler.ActionOptionConfig.Keys;
import io.emqx.extension.handler.AuthDecision;
import io.emqx.extension.handler.ConnectDecision;
import io.emqx.extension.handler.DefaultCommunicationHandler;
import io.emqx.extension.handler.DeliveredDecision;
import io.emqx.extension.handler.FilterDecision;
import io.emqx.extension.handler.MessageRewrite;
import io.emqx.extension.handler.PublishDecision;
import io.emqx.extension.handler.codec.ClientInfo;
import io.emqx.extension.handler.codec.ConnInfo;
import io.emqx.extension.handler.codec.Message;
import io.emqx.extension.handler.codec.Property;
import io.emqx.extension.handler.codec.TopicFilter;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Set;

/**
 * The Java twin of the Rust example {@code native/examples/gatekeeper}: every
 * kind of decision. It refuses connections and logins, denies and rewrites
 * subscriptions, drops and rewrites published messages, and rewrites what
 * one subscriber receives.
 */
public class Gatekeeper extends DefaultCommunicationHandler {

    /** Usernames refused at CONNECT (and at login, should CONNECT let them by). */
    private static final Set<String> BANNED_USERS = Set.of("bad");

    private static boolean banned(String username) {
        return username != null && BANNED_USERS.contains(username);
    }

    @Override
    public ActionOptionConfig getActionOption() {
        return new ActionOptionConfig()
                .set(Keys.MESSAGE_PUBLISH_TOPICS, "blocked/#,legacy/#")
                .set(Keys.MESSAGE_DELIVERED_TOPICS, "p/#");
    }

    /** Banned users are refused before authentication, with reason code 0x8A. */
    @Override
    public ConnectDecision decideClientConnect(ConnInfo conn, Property[] props) {
        return banned(conn.userName) ? ConnectDecision.refuse(ConnectDecision.BANNED) : ConnectDecision.accept();
    }

    @Override
    public AuthDecision decideClientAuthenticate(ClientInfo client, boolean authresult) {
        return banned(client.userName) ? AuthDecision.DENY : AuthDecision.IGNORE;
    }

    /** {@code #} (everything) is denied; {@code private/X} becomes {@code users/USERNAME/X}. */
    @Override
    public FilterDecision decideClientSubscribe(ClientInfo client, Property[] props, TopicFilter filter) {
        if (filter.topic.equals("#")) {
            return FilterDecision.deny();
        }
        if (!filter.topic.startsWith("private/")) {
            return FilterDecision.keep();
        }
        String rest = filter.topic.substring("private/".length());
        return client.userName == null
                ? FilterDecision.deny()
                : FilterDecision.rewrite("users/" + client.userName + "/" + rest);
    }

    /** {@code blocked/#} is dropped; {@code legacy/X} is republished as {@code v2/X} at QoS 1. */
    @Override
    public PublishDecision decideMessagePublish(Message message) {
        if (message.topic.startsWith("blocked/")) {
            return PublishDecision.drop();
        }
        if (message.topic.startsWith("legacy/")) {
            String rest = message.topic.substring("legacy/".length());
            return PublishDecision.rewrite(new MessageRewrite().topic("v2/" + rest).qos(1));
        }
        return PublishDecision.proceed();
    }

    /** Each subscriber of {@code p/#} receives the payload tagged with its clientid. */
    @Override
    public DeliveredDecision decideMessageDelivered(ClientInfo client, Message message) {
        ByteArrayOutputStream payload = new ByteArrayOutputStream();
        payload.writeBytes(message.payload);
        payload.writeBytes((" (for " + client.clientId + ")").getBytes(StandardCharsets.UTF_8));
        return DeliveredDecision.rewrite(new MessageRewrite().payload(payload.toByteArray()));
    }
}
