"""transcription plugin: post-call and live speech recognition with Vosk (/v1 transcriptions)."""
