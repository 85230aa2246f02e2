// An rtcstats#5.0 client written for mediaplane's collector tests. It is not rtcstats-js: it speaks
// the same wire protocol, whose facts were read from rtcstats/rtcstats (packages/rtcstats-js and
// packages/rtcstats-shared/compression.js):
// - every message is one JSON array [method, pcId, value, ...extra, msSincePreviousMessage], the
//   first delta being absolute (ms since the epoch); method names go as their fixed numeric ids;
// - the first message is `create` with facts of the client; after the socket opens, what was
//   buffered is sent, then `websocket` with the connection time;
// - getStats is polled once a connection is connected (the first poll carries the reason
//   "connected-0") and sent delta-compressed against the previous poll of that connection;
// - offer/answer/description/candidate calls carry a tracking id "<method id>-<counter>", and a
//   description whose SDP section equals the base description's is sent as a bare "v=" / "m=".
//
// rtcstats5.start(url, {getStatsInterval}) opens the socket and replaces window.RTCPeerConnection and
// navigator.mediaDevices.getUserMedia with traced ones; it returns the trace ({sent, statsSent, drain,
// close}) whose `sent` lists every message as the exact string sent.
'use strict';

(function () {
    // Method ids of the protocol (a fixed table: an id never changes meaning).
    const METHOD_IDS = {
        getStats: 'g',
        createOffer: 2, createOfferOnSuccess: 3, createOfferOnFailure: 12,
        createAnswer: 4, createAnswerOnSuccess: 5, createAnswerOnFailure: 13,
        setLocalDescription: 6, setLocalDescriptionOnSuccess: 7, setLocalDescriptionOnFailure: 14,
        setRemoteDescription: 8, setRemoteDescriptionOnSuccess: 9, setRemoteDescriptionOnFailure: 15,
        addIceCandidate: 10, addIceCandidateOnSuccess: 11, addIceCandidateOnFailure: 16,
        onicecandidate: 20, ontrack: 22, onsignalingstatechange: 23, oniceconnectionstatechange: 24,
        onconnectionstatechange: 25, onicegatheringstatechange: 26, onnegotiationneeded: 27,
        addTrack: 30, addTrackOnSuccess: 31, close: 36, create: 39,
        'navigator.mediaDevices.getUserMedia': 60, 'navigator.mediaDevices.getUserMediaOnSuccess': 61,
        'navigator.mediaDevices.getUserMediaOnFailure': 65,
    };
    const STATS_TYPE_IDS = {
        'inbound-rtp': 1, 'outbound-rtp': 2, 'remote-inbound-rtp': 3, 'remote-outbound-rtp': 4,
        'transport': 5, 'candidate-pair': 6, 'local-candidate': 7, 'remote-candidate': 8,
        'data-channel': 9, 'peer-connection': 10, 'certificate': 11, 'media-source': 12,
        'media-playout': 13, 'codec': 14,
    };
    // Part of the protocol's property-name table: the names the analysis reads most. A name not in
    // it goes uncompressed, which a decoder passes through unchanged.
    const PROPERTY_KEYS = {
        timestamp: 't', transportId: 5, mimeType: 6, clockRate: 7, ssrc: 10, kind: 11, codecId: 12,
        packetsReceived: 14, packetsLost: 15, jitter: 16, trackIdentifier: 17, mid: 18, remoteId: 19,
        framesDecoded: 20, frameWidth: 23, frameHeight: 24, framesPerSecond: 25, bytesReceived: 41,
        jitterBufferDelay: 47, jitterBufferEmittedCount: 49, localId: 74, roundTripTime: 75,
        totalRoundTripTime: 76, roundTripTimeMeasurements: 78, packetsSent: 79, bytesSent: 80,
        mediaSourceId: 81, framesEncoded: 91, state: 118, dtlsState: 123, iceState: 124,
        selectedCandidatePairId: 125, address: 134, port: 135, candidateType: 136,
        localCandidateId: 148, remoteCandidateId: 149, nominated: 150, currentRoundTripTime: 152,
        availableOutgoingBitrate: 153,
    };
    const DROPPED_PROPERTIES = ['isRemote', 'ip', 'mediaType', 'writable'];

    const copy = (value) => JSON.parse(JSON.stringify(value));
    const sameJson = (a, b) => JSON.stringify(a) === JSON.stringify(b);

    // Only what changed since `previous` (both {statsId: report}); `ids` maps stats ids to the short
    // ids sent instead and grows as new reports appear.
    function compressStats(previous, current, ids) {
        const delta = copy(current);
        const removed = Object.keys(previous).filter((id) => id in ids && !(id in delta));
        for (const [id, report] of Object.entries(delta)) {
            delete report.id;
            const before = previous[id];
            if (!before) continue;
            for (const [name, value] of Object.entries(report)) {
                if (value === before[name] || (Array.isArray(value) && sameJson(value, before[name]))) {
                    delete report[name];
                } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
                    for (const key of Object.keys(value)) {
                        if (before[name] && before[name][key] === value[key]) delete value[key];
                    }
                    if (!Object.keys(value).length) delete report[name];
                }
            }
            if (!Object.keys(report).length) delete delta[id];
        }
        // The newest timestamp goes once at the top (key "t"), kept per report only where it differs.
        const stamps = Object.values(delta).map((r) => r.timestamp).filter((t) => t !== undefined);
        const latest = stamps.length ? Math.max(...stamps) : undefined;
        for (const [id, report] of Object.entries(delta)) {
            if (latest === undefined || report.timestamp !== latest) continue;
            delete report.timestamp;
            if (!Object.keys(report).length) delete delta[id];
        }
        for (const [id, report] of Object.entries(delta)) {
            if (report.type === 'certificate') {
                delete delta[id];
                continue;
            }
            if (report.type === 'transport') {
                delete report.localCertificateId;
                delete report.remoteCertificateId;
            }
            DROPPED_PROPERTIES.forEach((name) => delete report[name]);
        }
        for (const id of Object.keys(delta)) {
            if (!(id in ids)) ids[id] = String(Object.keys(ids).length);
        }
        const out = {};
        for (const [id, report] of Object.entries(delta)) {
            const short = {};
            for (const [name, value] of Object.entries(report)) {
                // References to other reports use the short ids too (an unknown one is left out).
                let sent = name.endsWith('Id') ? ids[value] : value;
                if (name === 'type') sent = STATS_TYPE_IDS[value] || value;
                short[PROPERTY_KEYS[name] || name] = sent;
            }
            out[ids[id]] = short;
        }
        if (latest !== undefined) out[PROPERTY_KEYS.timestamp] = latest;
        removed.forEach((id) => { out[ids[id]] = null; });
        return out;
    }

    // SDP sections equal to the base description's are sent as "v=" (session part) or "m=".
    function compressDescription(base, description) {
        if (!base || !description || base.type !== description.type || !base.sdp || !description.sdp) {
            return description;
        }
        const sections = (sdp) => sdp.split('\nm=').map((part, i) => (i ? 'm=' + part : part).trim());
        const baseSections = sections(base.sdp);
        const sdp = sections(description.sdp).map((section, i) => (
            section === baseSections[i] ? (i ? 'm=' : 'v=') : section)).join('\r\n') + '\r\n';
        return {type: description.type, sdp};
    }

    const dumpTrack = (track, ...streams) => [track.kind, track.id, track.label, ...streams.map((s) => s.id)];

    function openTrace(url) {
        const trace = {sent: [], statsSent: {}, buffer: [], last: 0};
        const socket = new WebSocket(url, 'rtcstats#5.0');
        const opening = Date.now();
        const send = (text) => {
            socket.send(text);
            trace.sent.push(text);
        };
        trace.record = (method, pcId, value, ...extra) => {
            const now = Date.now();
            const message = [method in METHOD_IDS ? METHOD_IDS[method] : method, pcId, value, ...extra];
            message.push(now - trace.last);
            trace.last = now;
            const text = JSON.stringify(message);
            if (socket.readyState === WebSocket.OPEN && !trace.buffer.length) send(text);
            else if (socket.readyState === WebSocket.CONNECTING) trace.buffer.push(text);
        };
        trace.record('create', null, {
            hardwareConcurrency: navigator.hardwareConcurrency,
            userAgentData: navigator.userAgentData,
            deviceMemory: navigator.deviceMemory,
            screen: {width: screen.availWidth, height: screen.availHeight, devicePixelRatio},
            window: {width: innerWidth, height: innerHeight},
        });
        socket.addEventListener('open', () => {
            trace.buffer.splice(0).forEach(send);
            trace.record('websocket', null, {connectionTime: Date.now() - opening});
        });
        trace.closed = new Promise((resolve) => socket.addEventListener('close', resolve));
        // Resolves once the browser has handed every message to the network, or the socket is
        // closing (then what is left is never sent, and bufferedAmount stays as it is).
        trace.drain = async () => {
            while ((trace.buffer.length || socket.bufferedAmount) && socket.readyState <= WebSocket.OPEN) {
                await new Promise((resolve) => setTimeout(resolve, 20));
            }
        };
        trace.close = (code) => socket.close(code);
        return trace;
    }

    function tracePeerConnections(trace, getStatsInterval) {
        const Native = window.RTCPeerConnection;
        const counters = {createOffer: 0, createAnswer: 0, setLocalDescription: 0,
            setRemoteDescription: 0, addIceCandidate: 0};
        let made = 0;
        const record = trace.record;
        // Records `method` with a tracking id, then its OnSuccess (`describe` of the result) or
        // OnFailure (the error's text) with the same id.
        const tracked = (pc, method, value, call, describe = () => undefined) => {
            const trackingId = `${METHOD_IDS[method]}-${counters[method]++}`;
            record(method, pc.rtcstatsId, value, trackingId);
            return call().then((result) => {
                record(method + 'OnSuccess', pc.rtcstatsId, describe(result), trackingId);
                return result;
            }, (error) => {
                record(method + 'OnFailure', pc.rtcstatsId, error.toString(), trackingId);
                throw error;
            });
        };

        class TracedPeerConnection extends Native {
            constructor(configuration) {
                super(configuration);
                this.rtcstatsId = `PC_${made++}`;
                record('create', this.rtcstatsId, configuration ? copy(configuration) : undefined);
                this.listen();
            }

            listen() {
                const id = this.rtcstatsId;
                this.addEventListener('icecandidate', (e) => record('onicecandidate', id, e.candidate));
                this.addEventListener('track', (e) => record('ontrack', id, dumpTrack(e.track, ...e.streams)));
                this.addEventListener('negotiationneeded', () => record('onnegotiationneeded', id, undefined));
                for (const state of ['signalingState', 'iceConnectionState', 'connectionState',
                    'iceGatheringState']) {
                    const event = state.toLowerCase() + 'change';
                    this.addEventListener(event, () => record('on' + event, id, this[state]));
                }
                const first = () => {
                    if (this.connectionState !== 'connected') return;
                    this.removeEventListener('connectionstatechange', first);
                    this.poll('connected-0');
                    this.polling = setInterval(() => this.poll(), getStatsInterval);
                };
                this.addEventListener('connectionstatechange', first);
                this.statsBase = {};
                this.statsIds = {};
                trace.statsSent[id] = 0;
            }

            async poll(reason) {
                if (this.signalingState === 'closed') {
                    clearInterval(this.polling);
                    return;
                }
                const report = {};
                (await super.getStats()).forEach((stats, statsId) => { report[statsId] = stats; });
                if (this.signalingState === 'closed') return;
                const delta = compressStats(this.statsBase, report, this.statsIds);
                if (reason) record('getStats', this.rtcstatsId, delta, reason);
                else record('getStats', this.rtcstatsId, delta);
                this.statsBase = copy(report);
                trace.statsSent[this.rtcstatsId]++;
            }

            addTrack(track, ...streams) {
                record('addTrack', this.rtcstatsId, dumpTrack(track, ...streams));
                const sender = super.addTrack(track, ...streams);
                const transceiver = this.getTransceivers().find((t) => t.sender === sender);
                if (transceiver) record('addTrackOnSuccess', this.rtcstatsId, null, transceiver.receiver.track.id);
                return sender;
            }

            createOffer(options) {
                return tracked(this, 'createOffer', options, () => super.createOffer(options),
                    (offer) => this.created(offer));
            }

            createAnswer(options) {
                return tracked(this, 'createAnswer', options, () => super.createAnswer(options),
                    (answer) => this.created(answer));
            }

            created(description) {
                this.lastCreated = description;
                return compressDescription(this.localDescription, description);
            }

            setLocalDescription(description) {
                const base = this.localDescription || this.lastCreated;
                this.lastCreated = undefined;
                return tracked(this, 'setLocalDescription', compressDescription(base, description),
                    () => super.setLocalDescription(description));
            }

            setRemoteDescription(description) {
                return tracked(this, 'setRemoteDescription',
                    compressDescription(this.remoteDescription, description),
                    () => super.setRemoteDescription(description));
            }

            addIceCandidate(candidate) {
                return tracked(this, 'addIceCandidate', candidate, () => super.addIceCandidate(candidate));
            }

            close() {
                record('close', this.rtcstatsId, undefined);
                clearInterval(this.polling);
                return super.close();
            }
        }
        window.RTCPeerConnection = TracedPeerConnection;
    }

    function traceGetUserMedia(trace) {
        const native = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
        let calls = 0;
        const method = 'navigator.mediaDevices.getUserMedia';
        navigator.mediaDevices.getUserMedia = (constraints) => {
            const trackingId = `${METHOD_IDS[method]}-${calls++}`;
            trace.record(method, null, constraints, trackingId);
            return native(constraints).then((stream) => {
                const tracks = stream.getTracks().map((track) => dumpTrack(track, stream));
                trace.record(method + 'OnSuccess', null, tracks, trackingId);
                return stream;
            }, (error) => {
                trace.record(method + 'OnFailure', null, error.toString(), trackingId);
                throw error;
            });
        };
    }

    window.rtcstats5 = {
        compressStats,
        start(url, {getStatsInterval = 1000} = {}) {
            const trace = openTrace(url);
            tracePeerConnections(trace, getStatsInterval);
            traceGetUserMedia(trace);
            return trace;
        },
    };
})();
