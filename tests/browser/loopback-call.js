// A loopback call inside one page, for the collector tests in real Chromium: the page's fake camera
// and microphone (--use-fake-device-for-media-stream) sent from one RTCPeerConnection of the page to
// a second one. `RTCPeerConnection` and `navigator.mediaDevices.getUserMedia` are looked up when the
// call starts, so a stats client that wrapped them first (ours or @jitsi/rtcstats) sees the call.
//
// loopbackCall({until}) resolves, once both connections are connected and `until()` (polled) is
// true, to {sent: [{kind, id}], received: [{kind, id}]} after closing both connections and
// stopping the tracks.
'use strict';

window.loopbackCall = async function loopbackCall({until, pollMs = 100}) {
    const stream = await navigator.mediaDevices.getUserMedia(
        {audio: true, video: {width: 320, height: 240}});
    const caller = new RTCPeerConnection({});
    const callee = new RTCPeerConnection({});
    const received = [];
    callee.addEventListener('track', (event) => {
        received.push({kind: event.track.kind, id: event.track.id});
    });
    // A candidate can arrive before the other side has its remote description: held until then.
    const exchange = (from, to) => {
        let described;
        const remoteSet = new Promise((resolve) => { described = resolve; });
        from.addEventListener('icecandidate', async (event) => {
            if (!event.candidate) return;
            await remoteSet;
            await to.addIceCandidate(event.candidate);
        });
        return described;
    };
    const callerDescribed = exchange(callee, caller);
    const calleeDescribed = exchange(caller, callee);
    const connected = Promise.all([caller, callee].map((pc) => new Promise((resolve, reject) => {
        pc.addEventListener('connectionstatechange', () => {
            if (pc.connectionState === 'connected') resolve();
            if (pc.connectionState === 'failed') reject(new Error('the loopback connection failed'));
        });
    })));

    stream.getTracks().forEach((track) => caller.addTrack(track, stream));
    const offer = await caller.createOffer();
    await caller.setLocalDescription(offer);
    await callee.setRemoteDescription(offer);
    calleeDescribed();
    const answer = await callee.createAnswer();
    await callee.setLocalDescription(answer);
    await caller.setRemoteDescription(answer);
    callerDescribed();
    await connected;

    while (!until()) {
        await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
    caller.close();
    callee.close();
    stream.getTracks().forEach((track) => track.stop());
    return {
        sent: stream.getTracks().map((track) => ({kind: track.kind, id: track.id})),
        received,
    };
};
