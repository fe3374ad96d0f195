import io.emqx.extension.handler.DefaultCommunicationHandler;
import io.emqx.extension.handler.codec.ClientInfo;
import io.emqx.extension.handler.codec.ConnInfo;
import io.emqx.extension.handler.codec.Message;
import io.emqx.extension.handler.codec.Property;
import io.emqx.extension.handler.codec.PubSub;
import io.emqx.extension.handler.codec.Reason;
import io.emqx.extension.handler.codec.ReturnCode;
import io.emqx.extension.handler.codec.SubscribeOption;
import io.emqx.extension.handler.codec.Topic;
import io.emqx.extension.handler.codec.TopicFilter;
import java.util.Arrays;

/**
 * The original SDK's example, in its style: every hook handled, each event
 * printed (to the broker's log, now that System.out is free), and simple
 * rules deciding: a login needs a clientid, an ACL check a username.
 *
 * <p>Run it with {@code exhook.drivers.NAME.init_module = SampleHandler}.
 */
public class SampleHandler extends DefaultCommunicationHandler {

    @Override
    public void onClientConnect(ConnInfo connInfo, Property[] props) {
        System.out.printf("[Java] onClientConnect: %s, props: %s%n", connInfo, Arrays.toString(props));
    }

    @Override
    public void onClientConnack(ConnInfo connInfo, ReturnCode rc, Property[] props) {
        System.out.printf("[Java] onClientConnack: %s, rc: %s%n", connInfo, rc);
    }

    @Override
    public void onClientConnected(ClientInfo clientInfo) {
        System.out.printf("[Java] onClientConnected: %s%n", clientInfo);
    }

    @Override
    public void onClientDisconnected(ClientInfo clientInfo, Reason reason) {
        System.out.printf("[Java] onClientDisconnected: %s, reason: %s%n", clientInfo, reason);
    }

    /** A login passes when the clientid is not empty. */
    @Override
    public boolean onClientAuthenticate(ClientInfo clientInfo, boolean authresult) {
        System.out.printf("[Java] onClientAuthenticate: %s, so far: %s%n", clientInfo, authresult);
        return !clientInfo.clientId.isEmpty();
    }

    /** Publishing and subscribing need a username. */
    @Override
    public boolean onClientCheckAcl(ClientInfo clientInfo, PubSub pubsub, Topic topic, boolean result) {
        System.out.printf("[Java] onClientCheckAcl: %s %s %s, so far: %s%n", clientInfo.clientId, pubsub, topic, result);
        return clientInfo.userName != null && !clientInfo.userName.isEmpty();
    }

    @Override
    public void onClientSubscribe(ClientInfo clientInfo, Property[] props, TopicFilter[] topic) {
        System.out.printf("[Java] onClientSubscribe: %s %s%n", clientInfo.clientId, Arrays.toString(topic));
    }

    @Override
    public void onClientUnsubscribe(ClientInfo clientInfo, Property[] props, TopicFilter[] topic) {
        System.out.printf("[Java] onClientUnsubscribe: %s %s%n", clientInfo.clientId, Arrays.toString(topic));
    }

    @Override
    public void onSessionCreated(ClientInfo clientInfo) {
        System.out.printf("[Java] onSessionCreated: %s%n", clientInfo.clientId);
    }

    @Override
    public void onSessionSubscribed(ClientInfo clientInfo, Topic topic, SubscribeOption opts) {
        System.out.printf("[Java] onSessionSubscribed: %s %s %s%n", clientInfo.clientId, topic, opts);
    }

    @Override
    public void onSessionUnsubscribed(ClientInfo clientInfo, Topic topic) {
        System.out.printf("[Java] onSessionUnsubscribed: %s %s%n", clientInfo.clientId, topic);
    }

    @Override
    public void onSessionResumed(ClientInfo clientInfo) {
        System.out.printf("[Java] onSessionResumed: %s%n", clientInfo.clientId);
    }

    @Override
    public void onSessionDiscarded(ClientInfo clientInfo) {
        System.out.printf("[Java] onSessionDiscarded: %s%n", clientInfo.clientId);
    }

    @Override
    public void onSessionTakeovered(ClientInfo clientInfo) {
        System.out.printf("[Java] onSessionTakeovered: %s%n", clientInfo.clientId);
    }

    @Override
    public void onSessionTerminated(ClientInfo clientInfo, Reason reason) {
        System.out.printf("[Java] onSessionTerminated: %s, reason: %s%n", clientInfo.clientId, reason);
    }

    /** Every message is published as it is. */
    @Override
    public Message onMessagePublish(Message message) {
        System.out.printf("[Java] onMessagePublish: %s%n", message);
        return message;
    }

    @Override
    public void onMessageDropped(Message message, Reason reason) {
        System.out.printf("[Java] onMessageDropped: %s, reason: %s%n", message, reason);
    }

    @Override
    public void onMessageDelivered(ClientInfo clientInfo, Message message) {
        System.out.printf("[Java] onMessageDelivered: to %s: %s%n", clientInfo.clientId, message);
    }

    @Override
    public void onMessageAcked(ClientInfo clientInfo, Message message) {
        System.out.printf("[Java] onMessageAcked: by %s: %s%n", clientInfo.clientId, message);
    }
}
