//! A root qdisc with hand-encoded options (`TCA_OPTIONS` as the kernel reads it), for the
//! disciplines rtnetlink has no builder for: netem (the doctor's probe) and tbf (`docker net`'s
//! rate).

use rtnetlink::packet_core::{
    DefaultNla, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use rtnetlink::packet_route::tc::{TcAttribute, TcHandle, TcMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::Handle;

const TCA_OPTIONS: u16 = 2;

/// `tc qdisc add|replace dev <index> root handle <major>: <kind> <options>`: `replace` puts it
/// in place of whatever root qdisc is there; otherwise an existing one is an error.
pub async fn add_root(
    handle: &Handle,
    index: u32,
    major: u16,
    kind: &str,
    options: Vec<u8>,
    replace: bool,
) -> Result<(), rtnetlink::Error> {
    let mut msg = TcMessage::with_index(index as i32);
    msg.header.parent = TcHandle::ROOT;
    msg.header.handle = TcHandle { major, minor: 0 };
    msg.attributes.push(TcAttribute::Kind(kind.to_string()));
    msg.attributes
        .push(TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, options)));
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewQueueDiscipline(msg));
    req.header.flags =
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | if replace { NLM_F_REPLACE } else { NLM_F_EXCL };
    let mut response = handle.clone().request(req)?;
    while let Some(message) = futures_util::StreamExt::next(&mut response).await {
        if let NetlinkPayload::Error(err) = message.payload {
            if err.code.is_some() {
                return Err(rtnetlink::Error::NetlinkError(err));
            }
        }
    }
    Ok(())
}
