//! Reading one record: a pcap record (whole from the buffer when it is there, else through
//! the slow path that reads on and names what is cut short) or the next pcapng block that
//! holds a frame (interface and section blocks are taken in on the way).

use super::*;

impl CaptureReader {
    /// The next pcap record's frame, appended to `buf`.
    pub(super) fn next_pcap(&mut self, buf: &mut Vec<u8>) -> Result<Option<Meta>, CaptureError> {
        let h = self.pcap_header.as_ref().expect("pcap header");
        let big = h.endianness == pcap_file::Endianness::Big;
        // The common case: the whole record is already buffered.
        let avail = self.src.avail();
        if avail.len() >= 16 {
            let caplen = read_u32(&avail[8..12], big) as usize;
            if avail.len() - 16 >= caplen
                && (caplen as u64) + 16 <= MAX_RECORD
                && let Inner::Pcap(parser) = &self.inner
                && let Ok((_, pkt)) = parser.next_raw_packet(&avail[..16 + caplen])
            {
                let len = 16 + caplen;
                buf.extend_from_slice(&pkt.data);
                Self::keep(&mut self.raw, &avail[..len], true);
                self.record += 1;
                let meta = self.pcap_meta(&pkt, h, self.record);
                self.src.consume(len);
                return Ok(Some(meta));
            }
        }
        self.next_pcap_slow(buf)
    }

    /// The metadata of pcap record number `record`.
    fn pcap_meta(&self, pkt: &pcap_file::pcap::RawPcapPacket, h: &PcapHeader, record: u64) -> Meta {
        Meta {
            stamp: Stamp::Pcap {
                sec: pkt.ts_sec,
                frac: pkt.ts_frac,
                nanos: h.ts_resolution == TsResolution::NanoSecond,
            },
            orig_len: pkt.orig_len,
            iface: (0, 0),
            iface_no: 0,
            slot: 0,
            link: self.pcap_link.expect("pcap link"),
            linktype: self.pcap_linktype,
            record,
            unsupported_link: false,
        }
    }

    /// [`CaptureReader::next_pcap`] when the record is not wholly buffered, or too large.
    fn next_pcap_slow(&mut self, buf: &mut Vec<u8>) -> Result<Option<Meta>, CaptureError> {
        let h = self.pcap_header.expect("pcap header");
        let record = self.record + 1;
        let fail = |message: String| CaptureError {
            file: self.path.clone(),
            record: Some(record),
            message,
        };
        let n = self
            .src
            .want(16)
            .map_err(|e| fail(format!("read error: {e}")))?;
        if n == 0 {
            return Ok(None);
        }
        self.record = record;
        if n < 16 {
            return Err(fail(format!(
                "cut short: the file ends inside the record header ({n} of 16 bytes)"
            )));
        }
        let big = h.endianness == pcap_file::Endianness::Big;
        let caplen = u64::from(read_u32(&self.src.avail()[8..12], big));
        if caplen + 16 > MAX_RECORD {
            let m = too_large(&self.src, self.size, "record", 16, caplen);
            return Err(fail(m));
        }
        let len = 16 + caplen as usize;
        let n = self
            .src
            .want(len)
            .map_err(|e| fail(format!("read error: {e}")))?;
        if n < len {
            return Err(fail(format!(
                "cut short or its length field is corrupt: the record says {caplen} bytes, the file ends after {}",
                n - 16
            )));
        }
        let Inner::Pcap(parser) = &self.inner else {
            unreachable!("pcap reader")
        };
        let (_, pkt) = parser
            .next_raw_packet(&self.src.avail()[..len])
            .map_err(|e| fail(map_pcap_error(e)))?;
        buf.extend_from_slice(&pkt.data);
        let meta = self.pcap_meta(&pkt, &h, record);
        Self::keep(&mut self.raw, &self.src.avail()[..len], true);
        self.src.consume(len);
        Ok(Some(meta))
    }

    /// The next pcapng packet block's frame, appended to `buf`.
    pub(super) fn next_pcapng(&mut self, buf: &mut Vec<u8>) -> Result<Option<Meta>, CaptureError> {
        loop {
            let record = self.record + 1;
            let at = self.src.offset;
            let path = self.path.clone();
            let fail = move |message: String| CaptureError {
                file: path,
                record: Some(record),
                message: format!("block at byte {at}: {message}"),
            };
            let Inner::PcapNg(parser) = &mut self.inner else {
                unreachable!("pcapng reader")
            };
            let big = parser.section().endianness == pcap_file::Endianness::Big;
            let Some(len) =
                block_len(&mut self.src, self.size, big, false).map_err(fail.clone())?
            else {
                return Ok(None);
            };
            let raw = &self.src.buf[self.src.pos..self.src.pos + len];
            let mut copy = Vec::new();
            let block = match parser.next_block(raw) {
                Ok((_, block)) => block,
                // A text option that is not UTF-8 (Wireshark shows it anyway): its bad bytes
                // become `?`, or the block is skipped when it is none eipsim reads.
                Err(PcapError::Utf8Error(_) | PcapError::FromUtf8Error(_)) => {
                    copy.extend_from_slice(raw);
                    sanitise_text_options(&mut copy, big);
                    match parser.next_block(&copy) {
                        Ok((_, block)) => block,
                        Err(_) if !is_read_block(&copy, big) => {
                            Self::keep(&mut self.raw, &self.src.avail()[..len], false);
                            self.src.consume(len);
                            continue;
                        }
                        Err(e) => return Err(fail(map_pcap_error(e))),
                    }
                }
                Err(e) => return Err(fail(map_pcap_error(e))),
            };
            let (iface, stamp, orig_len, data) = match block {
                Block::SectionHeader(_) => {
                    self.section += 1;
                    self.section_ifaces.clear();
                    Self::keep(&mut self.raw, &self.src.avail()[..len], false);
                    self.src.consume(len);
                    continue;
                }
                Block::EnhancedPacket(p) => (
                    p.interface_id,
                    p.timestamp.as_nanos() as u64,
                    p.original_len,
                    p.data,
                ),
                Block::SimplePacket(p) => (0, 0, p.original_len, p.data),
                Block::Packet(p) => (
                    u32::from(p.interface_id),
                    p.timestamp,
                    p.original_len,
                    p.data,
                ),
                _ => {
                    Self::keep(&mut self.raw, &self.src.avail()[..len], false);
                    self.src.consume(len);
                    continue;
                }
            };
            self.record = record;
            let lt = match parser.interfaces().get(iface as usize) {
                Some(idb) => linktype_value(idb.linktype),
                None => {
                    return Err(fail(format!(
                        "invalid field: interface id {iface} has no interface description block"
                    )));
                }
            };
            let (link, unsupported_link) = match LinkType::from_linktype(lt) {
                Some(link) => (link, false),
                None if self.keep_unsupported => (LinkType::Ethernet, true),
                None => {
                    return Err(fail(format!(
                        "interface {iface}: link type {lt} is not supported (Ethernet, raw IPv4/IP, Linux SLL/SLL2 and null/loop are)"
                    )));
                }
            };
            buf.extend_from_slice(&data);
            drop(data);
            let iface_no = self.iface_no(iface);
            Self::keep(&mut self.raw, &self.src.avail()[..len], true);
            self.src.consume(len);
            return Ok(Some(Meta {
                stamp: Stamp::PcapNg { raw: stamp },
                orig_len,
                iface: (self.section, iface),
                iface_no,
                slot: iface_no,
                link,
                linktype: lt,
                record,
                unsupported_link,
            }));
        }
    }
}
