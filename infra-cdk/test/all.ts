/** Every test file in one process, so the app is synthesized once per context, not once per file. */
import './names.test';
import './data.test';
import './services.test';
import './least-privilege.test';
import './alarms.test';
import './nag.test';
