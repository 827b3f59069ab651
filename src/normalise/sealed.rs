//! A decoded record as the event that is sealed ([`crate::event::SealedEvent`]): the
//! compact line the sealer writes, and the ECS line rendered from the same view, so
//! both always say the same.

use std::borrow::Cow;

use super::{Event, Normaliser, ProcId};
use crate::auth::AuthEvent;
use crate::event::{self, Keywords, SealedAuth, SealedEvent, SealedJournal, StructuredData, Tags};
use crate::record::RecordFlags;

impl Normaliser {
    /// The sealed view of a decoded event at journal `position`: borrows everything,
    /// copies nothing.
    pub fn sealed<'a>(
        &'a self,
        position: u64,
        ev: &'a Event<'a>,
        auth: Option<&'a AuthEvent<'a>>,
    ) -> SealedEvent<'a> {
        let mut tags = Tags::default();
        tags.set(Tags::PARSE_FAILURE, ev.parse_failure);
        tags.set(
            Tags::TRUNCATED,
            ev.record_flags.contains(RecordFlags::TRUNCATED),
        );
        tags.set(
            Tags::INCOMPLETE,
            ev.record_flags.contains(RecordFlags::INCOMPLETE),
        );
        tags.set(
            Tags::INVALID_UTF8,
            ev.invalid_utf8 || ev.journal.as_ref().is_some_and(|j| j.lossy_message),
        );
        let listener = self.listeners.get(usize::from(ev.source));
        SealedEvent {
            position,
            received_ns: ev.received_ns,
            ingress: listener.map(|l| Cow::Borrowed(l.name.as_str())),
            peer: ev.peer,
            tls_client: ev.tls_client.map(Cow::Borrowed),
            cred: ev.cred,
            file: ev
                .file
                .map(|(path, offset)| (String::from_utf8_lossy(path), offset)),
            original: Cow::Borrowed(ev.original),
            original_bytes: ev.invalid_utf8.then_some(Cow::Borrowed(ev.raw)),
            timestamp_ns: ev.timestamp_ns,
            priority: ev.priority,
            version: ev.version,
            hostname: ev
                .hostname
                .or_else(|| listener.and_then(|l| l.local_host.as_deref()))
                .map(Cow::Borrowed),
            appname: ev.appname.map(Cow::Borrowed),
            procid: ev.procid.map(|p| match p {
                ProcId::Pid(p) => event::ProcId::Pid(p),
                ProcId::Name(n) => event::ProcId::Name(Cow::Borrowed(n)),
            }),
            msgid: ev.msgid.map(Cow::Borrowed),
            structured_data: if ev.structured_data.is_empty() {
                StructuredData::None
            } else {
                StructuredData::Parsed(&ev.structured_data)
            },
            message: event::message_ref(ev.original, ev.message),
            tags,
            auth: auth.map(|a| sealed_auth(a, false)),
            journal: ev.journal.as_ref().map(|j| SealedJournal {
                cursor: j.cursor.map(Cow::Borrowed),
                unit: j.unit.map(Cow::Borrowed),
                comm: j.comm.map(Cow::Borrowed),
                transport: j.transport.map(Cow::Borrowed),
                uid: j.uid,
            }),
            audit: ev.audit.cloned(),
        }
    }

    /// Appends the compact line that is sealed for this event (no `\n`).
    pub fn write_compact(
        &self,
        position: u64,
        ev: &Event<'_>,
        auth: Option<&AuthEvent<'_>>,
        out: &mut Vec<u8>,
    ) {
        event::compact::write(&self.sealed(position, ev, auth), out);
    }

    /// Appends the ECS line of this event (no `\n`): the same as rendering its compact
    /// line.
    pub fn write(
        &mut self,
        position: u64,
        ev: &Event<'_>,
        auth: Option<&AuthEvent<'_>>,
        out: &mut Vec<u8>,
    ) {
        // The writer only caches formatted dates; the view borrows the rest of `self`.
        let mut ecs = std::mem::take(&mut self.ecs);
        ecs.write(&self.sealed(position, ev, auth), &self.stream, out);
        self.ecs = ecs;
    }

    /// Appends the ECS line of this event as the detector sees it (no `\n`): with the
    /// facts filled from the connection's other lines, named in
    /// `sealtrail.auth.from_connection` (`["source.ip", "user.name"]`). What `sealtrail
    /// replay` prints; never sealed.
    pub fn write_detected(
        &mut self,
        position: u64,
        ev: &Event<'_>,
        auth: Option<&AuthEvent<'_>>,
        out: &mut Vec<u8>,
    ) {
        let Some(a) = auth.filter(|a| !a.from_connection.is_empty()) else {
            return self.write(position, ev, auth, out);
        };
        let start = out.len();
        let mut ecs = std::mem::take(&mut self.ecs);
        let mut view = self.sealed(position, ev, None);
        view.auth = Some(sealed_auth(a, true));
        ecs.write(&view, &self.stream, out);
        self.ecs = ecs;
        // `"auth":{` opens `sealtrail.auth`; inside JSON strings a quote is escaped, so
        // the key cannot be matched there.
        const KEY: &[u8] = b"\"auth\":{";
        let Some(i) = memchr::memmem::find(&out[start..], KEY) else {
            return;
        };
        let mut member = b"\"from_connection\":[".to_vec();
        for (n, f) in a.from_connection.fields().enumerate() {
            if n > 0 {
                member.push(b',');
            }
            member.push(b'"');
            member.extend_from_slice(f.as_bytes());
            member.push(b'"');
        }
        member.extend_from_slice(b"],");
        let at = start + i + KEY.len();
        out.splice(at..at, member);
    }
}

/// The sealed view of `a`. What came from other lines of the connection
/// ([`AuthEvent::from_connection`]) is left out unless `with_connection`: a sealed (and
/// forwarded) line says only what its own record says, and stays a pure function of
/// it.
fn sealed_auth<'a>(a: &'a AuthEvent<'a>, with_connection: bool) -> SealedAuth<'a> {
    let text = |v: &'a Option<Cow<'a, str>>| v.as_deref().map(Cow::Borrowed);
    let own_source = with_connection || !a.from_connection.source;
    let own_user = with_connection || !a.from_connection.user;
    SealedAuth {
        category: Keywords::Static(a.category.ecs()),
        kind_type: Keywords::Static(a.kind_type),
        action: Cow::Borrowed(a.action),
        outcome: Cow::Borrowed(a.outcome.as_str()),
        reason: a.reason.map(Cow::Borrowed),
        user: a.user_name().filter(|_| own_user).map(Cow::Borrowed),
        user_id: a.user_id,
        target_user: a
            .target_user
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(Cow::Borrowed),
        source_ip: a.source_ip.filter(|_| own_source),
        source_port: a.source_port.filter(|_| own_source),
        source_domain: text(&a.source_domain),
        attempts: a.attempts,
        method: a.method.map(Cow::Borrowed),
        service: text(&a.service),
        tty: text(&a.tty),
        pwd: text(&a.pwd),
        command: text(&a.command),
        session_id: text(&a.session_id),
        exe: text(&a.exe),
    }
}
