//! A DNS server for tests, on 127.0.0.1: it answers SRV, TXT and A queries from a fixed table,
//! NXDOMAIN for anything else. A thread with a UDP socket, on hickory-proto's message types.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use hickory_resolver::proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, CNAME, SRV, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

/// One record of the table.
#[derive(Clone, Debug)]
pub enum Answer {
    /// `_service._tcp.name SRV 0 0 port target`.
    Srv {
        name: String,
        target: String,
        port: u16,
    },
    /// `name TXT "strings"...`.
    Txt { name: String, strings: Vec<String> },
    /// `name A ip`.
    A { name: String, ip: Ipv4Addr },
    /// `name CNAME target`: an A query for `name` is answered with it and the target's A.
    Cname { name: String, target: String },
}

impl Answer {
    fn name(&self) -> &str {
        match self {
            Answer::Srv { name, .. }
            | Answer::Txt { name, .. }
            | Answer::A { name, .. }
            | Answer::Cname { name, .. } => name,
        }
    }

    fn record_type(&self) -> RecordType {
        match self {
            Answer::Srv { .. } => RecordType::SRV,
            Answer::Txt { .. } => RecordType::TXT,
            Answer::A { .. } => RecordType::A,
            Answer::Cname { .. } => RecordType::CNAME,
        }
    }

    fn rdata(&self) -> RData {
        match self {
            Answer::Srv { target, port, .. } => RData::SRV(SRV::new(
                0,
                0,
                *port,
                Name::from_ascii(format!("{}.", target.trim_end_matches('.'))).unwrap(),
            )),
            Answer::Txt { strings, .. } => RData::TXT(TXT::new(strings.clone())),
            Answer::A { ip, .. } => RData::A(A(*ip)),
            Answer::Cname { target, .. } => RData::CNAME(CNAME(
                Name::from_ascii(format!("{}.", target.trim_end_matches('.'))).unwrap(),
            )),
        }
    }
}

/// A running DNS server; stops when dropped.
pub struct DnsServer {
    pub address: SocketAddr,
    stop: Arc<AtomicBool>,
    queries: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsServer {
    pub fn start(table: Vec<Answer>) -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let address = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let queries = Arc::new(AtomicUsize::new(0));
        let counted = queries.clone();
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 1500];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((n, peer)) = socket.recv_from(&mut buffer) else {
                    continue;
                };
                counted.fetch_add(1, Ordering::Relaxed);
                if let Some(reply) = answer(&table, &buffer[..n]) {
                    let _ = socket.send_to(&reply, peer);
                }
            }
        });
        DnsServer {
            address,
            stop,
            queries,
            thread: Some(thread),
        }
    }

    /// How many queries it has received.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(table: &[Answer], query: &[u8]) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    let question = request.queries().first()?.clone();
    let asked = question
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let mut reply = Message::new();
    reply
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_authoritative(true)
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(true);
    let known = table.iter().any(|a| a.name().eq_ignore_ascii_case(&asked));
    reply.set_response_code(if known {
        ResponseCode::NoError
    } else {
        ResponseCode::NXDomain
    });
    reply.add_query(question.clone());
    let alias = table
        .iter()
        .find(|a| matches!(a, Answer::Cname { name, .. } if name.eq_ignore_ascii_case(&asked)));
    if let (RecordType::A, Some(cname @ Answer::Cname { target, .. })) =
        (question.query_type(), alias)
    {
        reply.add_answer(Record::from_rdata(
            question.name().clone(),
            60,
            cname.rdata(),
        ));
        let target_name = Name::from_ascii(format!("{}.", target.trim_end_matches('.'))).unwrap();
        for a in table
            .iter()
            .filter(|a| matches!(a, Answer::A { name, .. } if name.eq_ignore_ascii_case(target)))
        {
            reply.add_answer(Record::from_rdata(target_name.clone(), 60, a.rdata()));
        }
        return reply.to_vec().ok();
    }
    for record in table.iter().filter(|a| {
        a.name().eq_ignore_ascii_case(&asked) && a.record_type() == question.query_type()
    }) {
        reply.add_answer(Record::from_rdata(
            question.name().clone(),
            60,
            record.rdata(),
        ));
    }
    reply.to_vec().ok()
}
