//! Commands out to Kafka: a structured CloudEvent keyed by the business key, through librdkafka's
//! idempotent producer.

use std::time::Duration;

use flowlens_core::{Cause, Command, Millis};
use flowlens_service::{BoxFuture, Publisher};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;

use super::connection::{Connection, Context, Role};

pub struct KafkaPublisher(FutureProducer<Context>);

impl KafkaPublisher {
    pub fn new(connection: &Connection) -> Result<KafkaPublisher, rdkafka::error::KafkaError> {
        let mut config = connection.config(Role::Producer);
        if config.get("message.timeout.ms").is_none() {
            config.set("message.timeout.ms", "10000");
        }
        // Set last: a command is never sent twice, whatever was passed.
        config.set("enable.idempotence", "true");
        let producer = config.create_with_context(connection.context())?;
        Ok(KafkaPublisher(producer))
    }
}

impl Publisher for KafkaPublisher {
    fn publish<'a>(&'a self, cmd: &'a Command, action: i64, now: Millis) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let mut event = json!({
                "specversion": "1.0",
                "id": format!("flowlens-action-{action}"),
                "type": cmd.command_type,
                "source": "flowlens",
                "subject": cmd.key,
                "time": now.to_rfc3339(),
                "datacontenttype": "application/json",
                "flowlensaction": action.to_string(),
                "data": cmd.payload,
            });
            if let Cause::Retry { retries: Some(id), .. } = &cmd.cause {
                event["flowlensretries"] = json!(id);
            }
            let value = event.to_string();
            let headers = OwnedHeaders::new().insert(Header { key: "content-type", value: Some("application/cloudevents+json") });
            let record = FutureRecord::to(&cmd.topic).key(&cmd.key).payload(&value).headers(headers);
            self.0.send(record, Duration::from_secs(10)).await.map(|_| ()).map_err(|(e, _)| format!("Kafka refused it: {e}"))
        })
    }
}
