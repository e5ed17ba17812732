// Readiness probe for deploy/local/kafka.sh: succeeds only once a client can really
// produce with acks=all, which is later than the port opening.
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

public class ProduceProbe {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("acks", "all");
        props.put("max.block.ms", "5000");
        props.put("delivery.timeout.ms", "10000");
        props.put("request.timeout.ms", "5000");
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            producer.send(new ProducerRecord<>("__evalstream_probe", "probe", "ready")).get(15, TimeUnit.SECONDS);
        }
    }
}
